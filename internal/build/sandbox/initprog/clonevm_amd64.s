//go:build !race

#include "textflag.h"

// func cloneVM(flags, stack uintptr, a *vmChild) (pid, errno uintptr)
//
// clone(2) with the child on the stack whose top is stack. The parent
// returns the pid or the errno; the child calls vmChildMain(a) on the new
// stack, which never returns.
TEXT ·cloneVM(SB),NOSPLIT|NOFRAME,$0-40
	MOVQ	flags+0(FP), DI
	MOVQ	stack+8(FP), SI
	MOVQ	a+16(FP), R13
	XORQ	DX, DX	// parent_tid
	XORQ	R10, R10	// child_tid
	XORQ	R8, R8	// tls
	MOVL	$56, AX	// SYS_clone
	SYSCALL
	TESTQ	AX, AX
	JEQ	child
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	NEGQ	AX
	MOVQ	$0, pid+24(FP)
	MOVQ	AX, errno+32(FP)
	RET
ok:
	MOVQ	AX, pid+24(FP)
	MOVQ	$0, errno+32(FP)
	RET
child:
	// On the new stack, which the kernel switched to: the argument
	// word of an ABI0 call, then the call.
	SUBQ	$16, SP
	MOVQ	R13, 0(SP)
	CALL	·vmChildMain(SB)
	MOVL	$127, DI
	MOVL	$231, AX	// SYS_exit_group
	SYSCALL
	INT	$3

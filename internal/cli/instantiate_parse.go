package cli

import (
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"cairn/internal/lang/ast"
	"cairn/internal/lang/parser"
	"cairn/internal/lang/token"
)

// `nix-instantiate --parse a.nix b.nix …` prints each file's expression
// and stops at the first file that fails. parseFiles does the same, but
// parses and prints the files on worker goroutines (one per CPU) while
// the evaluator's goroutine checks them for undefined variables and
// writes them out in argument order.
//
// A worker takes the common case only: a regular file (not a symbolic
// link, not a directory, not in the store) that parses without a
// warning. Anything else (a missing file, a syntax error, a warning, an
// undefined variable) is done again by the evaluator's goroutine through
// the ordinary path when its turn comes, so stdout, stderr and the exit
// status are exactly those of the one-file-at-a-time loop, and nothing
// after the first failing file is printed.

// parseWindow is how many chunks per worker may be parsed ahead of the
// one being written; maxParseChunk is the most files a worker takes at a
// time (fewer hand-overs between goroutines, but not so many that one
// worker is left with the tail of the list).
const (
	parseWindow   = 2
	maxParseChunk = 4
	maxKeptBuffer = 1 << 20 // larger source buffers are not reused
)

// parsed is one file's result; its buffers are reused for later files.
type parsed struct {
	src     []byte   // the file's content (the AST's strings point into it)
	out     []byte   // the --parse text and a newline
	expr    ast.Expr // nil: do the file again on the ordinary path
	checked bool     // the worker found every variable of expr defined
}

// parseFiles prints the --parse output of files in order with up to jobs
// worker goroutines.
func (p *processor) parseFiles(files []string, jobs int) error {
	workers := min(jobs, len(files))
	if workers < 2 {
		pw, r := p.newParseWorker(), &parsed{}
		for _, file := range files {
			pw.parse(file, r)
			if err := p.emitParsed(file, r); err != nil {
				return err
			}
		}
		return nil
	}

	chunk := min(max(len(files)/(workers*parseWindow*2), 1), maxParseChunk)
	nchunks := (len(files) + chunk - 1) / chunk
	window := parseWindow * workers
	todo := make(chan int, window)
	slots := make([]chan []parsed, window)
	for i := range slots {
		slots[i] = make(chan []parsed, 1)
	}
	free := make(chan []parsed, window+workers)
	var stop atomic.Bool
	var waiting atomic.Int64 // the chunk the writer waits for
	var wg sync.WaitGroup
	for range workers {
		// Each worker checks for undefined variables with its own
		// state, made here on the evaluator's goroutine.
		defined := p.s.ev.NewDefinedCheck()
		wg.Go(func() {
			w := p.newParseWorker()
			w.defined = defined
			for c := range todo {
				var rs []parsed
				select {
				case rs = <-free:
				default:
					rs = make([]parsed, chunk)
				}
				lo, hi := c*chunk, min((c+1)*chunk, len(files))
				for i := range rs {
					rs[i].expr = nil
					if lo+i < hi && !stop.Load() {
						w.parse(files[lo+i], &rs[i])
					}
				}
				slots[c%window] <- rs
				if waiting.Load() == int64(c) {
					// The writer waits for this chunk. It is now queued
					// behind this goroutine on this CPU and, with every
					// CPU parsing, would wait until the workers run out
					// of chunks or are preempted: let it run now.
					runtime.Gosched()
				}
			}
		})
	}
	defer func() {
		stop.Store(true)
		close(todo)
		wg.Wait()
	}()

	next := 0
	for c := range nchunks {
		for ; next < nchunks && next < c+window; next++ {
			todo <- next
		}
		waiting.Store(int64(c))
		rs := <-slots[c%window]
		lo, hi := c*chunk, min((c+1)*chunk, len(files))
		for i := range hi - lo {
			if err := p.emitParsed(files[lo+i], &rs[i]); err != nil {
				return err
			}
		}
		for i := range rs {
			rs[i].expr = nil
			if cap(rs[i].src) > maxKeptBuffer {
				// A rare large file: let the collector have its buffers.
				rs[i].src, rs[i].out = nil, nil
			}
		}
		select {
		case free <- rs:
		default:
		}
	}
	return nil
}

// emitParsed writes r, the worker's result for file, after the check for
// undefined variables, or does file on the ordinary path.
func (p *processor) emitParsed(file string, r *parsed) error {
	if r.expr != nil && (r.checked || p.s.ev.CheckExpr(r.expr) == nil) {
		_, err := p.out.Write(r.out)
		return err
	}
	e, err := p.parseFile(file)
	if err != nil {
		return err
	}
	return p.process(e)
}

// parseWorker parses files for parseFiles; each worker goroutine has its
// own.
type parseWorker struct {
	cwd      string
	storeDir string
	opts     parser.Options
	warned   bool // the parser reported a warning for the current file
	// defined, if set, reports whether every variable of an expression
	// is defined; a file that fails it takes the ordinary path, whose
	// check reports the error.
	defined func(ast.Expr) bool
}

func (p *processor) newParseWorker() *parseWorker {
	s := p.s
	home, _ := s.f.Getenv("HOME")
	w := &parseWorker{cwd: s.cwd, storeDir: string(s.io.StoreDir())}
	w.opts = parser.Options{
		HomeDir:       home,
		Pure:          s.cfg.pure,
		PipeOperators: slices.Contains(s.cfg.features, "pipe-operators"),
		Lints:         s.cfg.lints,
		Warn:          func(token.Pos, string) { w.warned = true },
		Diagnose:      func(token.Pos, string) { w.warned = true },
	}
	return w
}

// parse reads, parses and prints file into r, reusing r's buffers. It
// sets r.expr to nil when the file needs the ordinary path.
func (w *parseWorker) parse(file string, r *parsed) {
	r.expr, r.checked = nil, false
	if file == "" || file[0] == '<' || strings.Contains(file, "://") {
		return
	}
	path := file
	if !filepath.IsAbs(path) {
		path = filepath.Join(w.cwd, path)
	}
	path = filepath.Clean(path)
	if path == w.storeDir || strings.HasPrefix(path, w.storeDir+"/") {
		return // the store may live under a chroot root
	}
	src, ok := readRegularFile(path, r.src[:0])
	if !ok {
		return
	}
	r.src = src
	w.opts.BaseDir = filepath.Dir(path)
	w.warned = false
	f := token.NewFileSet().AddFile(path, len(src))
	e, err := parser.Parse(f, src, w.opts)
	if err != nil || w.warned || e == nil {
		return
	}
	if w.defined != nil && !w.defined(e) {
		return
	}
	r.out = append(ast.AppendShow(r.out[:0], e), '\n')
	r.expr, r.checked = e, w.defined != nil
}

// readRegularFile reads path into buf if it is a regular file and not a
// symbolic link (whose target Nix's resolveExprPath would name instead),
// with one path lookup: open, fstat, read until the end, close.
func readRegularFile(path string, buf []byte) ([]byte, bool) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return buf, false
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return buf, false
	}
	// One byte more than the size, so that the common case ends with a
	// read of 0 bytes and no growth.
	if need := int(st.Size) + 1; cap(buf) < need {
		buf = make([]byte, 0, need+need/8)
	}
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return buf, false
		case n == 0:
			return buf, true
		}
		buf = buf[:len(buf)+n]
	}
}

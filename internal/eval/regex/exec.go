package regex

// This file is a port of libstdc++'s depth-first _Executor
// (bits/regex_executor.tcc) in POSIX mode, the one std::regex_match and
// std::regex_search use for Nix's patterns. The recursion is replaced by an
// explicit stack so that long subjects cannot overflow the goroutine stack.
//
// Semantics worth knowing:
//   - alternation explores both sides; an accepting state replaces the
//     current solution only if it ends strictly later (POSIX "longest");
//   - a greedy repeat tries one more iteration first and skips the "leave
//     the loop" branch if that already led to a solution;
//   - _M_rep_count stops a zero-width loop after its second visit at the same
//     position.
//
// When the NFA has no zero-width cycle, the outcome of exploring a branching
// state at a position does not depend on how it was reached, and every state
// is entered while no solution is pending, so (state, position) outcomes are
// memoised. That turns libstdc++'s exponential worst case into O(states*n)
// per search without changing any result.

type execMode uint8

const (
	modeExact execMode = iota
	modePrefix
)

type frameKind uint8

const (
	fVisit      frameKind = iota // visit node at pos
	fRepeatNext                  // after a repeat body: restore rep count, maybe take next
	fAltRight                    // after the left branch of an alternation
	fAltDone                     // after the right branch
	fRestoreCap                  // undo a capture update
	fRestorePos                  // undo consuming a byte
	fMemo                        // record the outcome of a branching state
)

type frame struct {
	kind frameKind
	flag bool
	node int32
	a, b int
}

type repCount struct {
	pos, count int
}

// matcher runs searches of one Regexp over one subject.
type matcher struct {
	re   *Regexp
	s    string
	end  int
	mode execMode

	begin      int
	cur        int
	notNull    bool
	prevAvail  bool
	continuous bool

	hasSol  bool
	solPos  int
	curCaps []int // 3 ints per group: start, end, matched
	results []int
	rep     []repCount
	stack   []frame

	memo    []uint32 // per (branch state, position): gen<<1 | outcome
	gen     uint32
	useMemo bool
}

// newMatcher returns a matcher for s, reusing buffers of an earlier one.
// Release it with done.
func newMatcher(re *Regexp, s string) *matcher {
	m, _ := re.pool.Get().(*matcher)
	if m == nil {
		m = &matcher{
			curCaps: make([]int, 3*(re.ngroups+1)),
			results: make([]int, 3*(re.ngroups+1)),
		}
		if re.zeroWidthCycle {
			m.rep = make([]repCount, len(re.nfa)) // restored after every search
		}
	}
	m.re, m.s, m.end = re, s, len(s)
	m.useMemo = false
	if !re.zeroWidthCycle && !re.noMemo && re.nbranch > 0 {
		if size := re.nbranch * (len(s) + 1); size <= maxMemo {
			if cap(m.memo) < size {
				m.memo = make([]uint32, size)
				m.gen = 0
			}
			m.memo = m.memo[:size]
			m.useMemo = true
		}
	}
	if m.gen > 1<<30 { // generations are about to wrap: start afresh
		clear(m.memo[:cap(m.memo)])
		m.gen = 0
	}
	if m.stack == nil {
		m.stack = make([]frame, 0, min(4*len(s)+16, 4096))
	}
	return m
}

// done returns m's buffers for reuse.
func (m *matcher) done() {
	m.s = ""
	if cap(m.memo) > 1<<22 {
		m.memo, m.gen = nil, 0
	}
	if cap(m.stack) > 1<<18 {
		m.stack = nil
	}
	m.re.pool.Put(m)
}

// maxMemo bounds the memo table (entries of 4 bytes).
const maxMemo = 1 << 23

// search is std::regex_search over s[from:] with the given flags. It fills
// m.results and reports whether a match was found.
func (m *matcher) search(from int, prevAvail, notNull, continuous bool) bool {
	m.gen++
	m.begin = from
	m.prevAvail = prevAvail
	m.notNull = notNull
	m.mode = modePrefix
	for i := range m.results {
		m.results[i] = -1
	}
	if m.main() {
		return true
	}
	if continuous {
		return false
	}
	m.prevAvail = true
	for m.begin != m.end {
		m.begin++
		if m.main() {
			return true
		}
	}
	return false
}

// matchAll is std::regex_match over the whole subject.
func (m *matcher) matchAll() bool {
	m.gen++
	m.begin = 0
	m.mode = modeExact
	for i := range m.results {
		m.results[i] = -1
	}
	return m.main()
}

// main is _M_main_dispatch for the DFS executor.
func (m *matcher) main() bool {
	m.cur = m.begin
	m.hasSol = false
	m.solPos = -1
	copy(m.curCaps, m.results)
	m.run(m.re.start)
	return m.hasSol
}

func (m *matcher) atBegin() bool {
	return m.cur == m.begin && !m.prevAvail
}

func (m *matcher) run(start int32) {
	nfa := m.re.nfa
	m.stack = append(m.stack[:0], frame{kind: fVisit, node: start})
	for len(m.stack) > 0 {
		f := m.stack[len(m.stack)-1]
		m.stack = m.stack[:len(m.stack)-1]
		switch f.kind {
		case fRestorePos:
			m.cur = f.a
		case fRestoreCap:
			k := 3 * int(f.node)
			if f.flag { // an opSubEnd: a is the old end, b the old matched flag
				m.curCaps[k+1], m.curCaps[k+2] = f.a, f.b
			} else {
				m.curCaps[k] = f.a
			}
		case fRepeatNext:
			if m.rep != nil && f.flag {
				m.rep[f.node] = repCount{f.a, f.b}
			}
			if !m.hasSol {
				m.stack = append(m.stack, frame{kind: fVisit, node: nfa[f.node].next})
			}
		case fAltRight:
			m.stack = append(m.stack, frame{kind: fAltDone, flag: m.hasSol})
			m.hasSol = false
			m.stack = append(m.stack, frame{kind: fVisit, node: nfa[f.node].next})
		case fAltDone:
			m.hasSol = m.hasSol || f.flag
		case fMemo:
			v := m.gen << 1
			if m.hasSol {
				v |= 1
			}
			m.memo[f.a] = v
		case fVisit:
			m.visit(f.node)
		}
	}
}

func (m *matcher) visit(i int32) {
	st := &m.re.nfa[i]
	if m.useMemo && st.memo >= 0 {
		key := int(st.memo)*(m.end+1) + m.cur
		if v := m.memo[key]; v>>1 == m.gen {
			// Explored before from here: same outcome, and re-exploring
			// could not improve the solution.
			if v&1 != 0 {
				m.hasSol = true
			}
			return
		}
		m.stack = append(m.stack, frame{kind: fMemo, a: key})
	}
	switch st.op {
	case opRepeat:
		// _M_rep_once_more, then (unless solved) the exit branch.
		if m.rep == nil {
			m.stack = append(m.stack,
				frame{kind: fRepeatNext, node: i},
				frame{kind: fVisit, node: st.alt})
			return
		}
		rc := m.rep[i]
		switch {
		case rc.count == 0 || rc.pos != m.cur:
			m.rep[i] = repCount{m.cur, 1}
		case rc.count < 2:
			m.rep[i].count++
		default:
			m.stack = append(m.stack, frame{kind: fRepeatNext, node: i})
			return
		}
		m.stack = append(m.stack,
			frame{kind: fRepeatNext, node: i, flag: true, a: rc.pos, b: rc.count},
			frame{kind: fVisit, node: st.alt})
	case opAlt:
		m.stack = append(m.stack,
			frame{kind: fAltRight, node: i},
			frame{kind: fVisit, node: st.alt})
	case opSubBegin:
		k := 3 * int(st.sub)
		m.stack = append(m.stack,
			frame{kind: fRestoreCap, node: st.sub, a: m.curCaps[k]},
			frame{kind: fVisit, node: st.next})
		m.curCaps[k] = m.cur
	case opSubEnd:
		k := 3 * int(st.sub)
		m.stack = append(m.stack,
			frame{kind: fRestoreCap, flag: true, node: st.sub, a: m.curCaps[k+1], b: m.curCaps[k+2]},
			frame{kind: fVisit, node: st.next})
		m.curCaps[k+1] = m.cur
		m.curCaps[k+2] = 1
	case opLineBegin:
		if m.atBegin() {
			m.stack = append(m.stack, frame{kind: fVisit, node: st.next})
		}
	case opLineEnd:
		if m.cur == m.end {
			m.stack = append(m.stack, frame{kind: fVisit, node: st.next})
		}
	case opMatch:
		if m.cur == m.end || !st.class.has(m.s[m.cur]) {
			return
		}
		m.stack = append(m.stack,
			frame{kind: fRestorePos, a: m.cur},
			frame{kind: fVisit, node: st.next})
		m.cur++
	case opAccept:
		m.accept()
	}
}

// accept is _M_handle_accept in POSIX mode.
func (m *matcher) accept() {
	if m.mode == modeExact {
		m.hasSol = m.cur == m.end
	} else {
		m.hasSol = true
	}
	if m.cur == m.begin && m.notNull {
		m.hasSol = false
	}
	if m.hasSol && (m.solPos < 0 || m.solPos-m.begin < m.cur-m.begin) {
		m.solPos = m.cur
		copy(m.results, m.curCaps)
	}
}

// group returns group g of the last successful match.
func (m *matcher) group(g int) Group {
	k := 3 * g
	if m.results[k+2] != 1 {
		return Group{Start: -1, End: -1}
	}
	return Group{Start: m.results[k], End: m.results[k+1]}
}

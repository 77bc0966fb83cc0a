package local

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"cairn/internal/compat/storepath"
)

// graph is the whole reference graph of the database, loaded in three
// scans and indexed by dense integers, so that the collector never
// queries SQLite per path.
type graph struct {
	paths    []string         // printed path by index
	dbID     []int64          // ValidPaths.id by index
	byPath   map[string]int32 // printed path -> index
	byHash   map[string]int32 // hash part -> index
	byID     map[int64]int32  // ValidPaths.id -> index
	refs     [][]int32        // references (forward), self excluded
	referrer [][]int32        // referrers (reverse), self excluded
	deriver  []int32          // valid deriver, or -1
	outputs  [][]int32        // drv -> its valid outputs (DerivationOutputs)
	derivers [][]int32        // path -> valid drvs listing it as an output
}

func loadGraph(ctx context.Context, db *sql.DB, dir storepath.Dir) (*graph, error) {
	g := &graph{byPath: map[string]int32{}, byHash: map[string]int32{}}
	byID := map[int64]int32{}
	g.byID = byID
	rows, err := db.QueryContext(ctx, "select id, path, deriver from ValidPaths")
	if err != nil {
		return nil, fmt.Errorf("load reference graph: %w", err)
	}
	var derivers []sql.NullString
	for rows.Next() {
		var id int64
		var path string
		var deriver sql.NullString
		if err := rows.Scan(&id, &path, &deriver); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load reference graph: %w", err)
		}
		i := int32(len(g.paths))
		g.paths = append(g.paths, path)
		g.dbID = append(g.dbID, id)
		g.byPath[path] = i
		if base, ok := strings.CutPrefix(path, string(dir)+"/"); ok && len(base) > storepath.HashLen {
			g.byHash[base[:storepath.HashLen]] = i
		}
		byID[id] = i
		derivers = append(derivers, deriver)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load reference graph: %w", err)
	}
	n := len(g.paths)
	g.refs = make([][]int32, n)
	g.referrer = make([][]int32, n)
	g.outputs = make([][]int32, n)
	g.derivers = make([][]int32, n)
	g.deriver = make([]int32, n)
	for i, d := range derivers {
		g.deriver[i] = -1
		if d.Valid {
			if j, ok := g.byPath[d.String]; ok {
				g.deriver[i] = j
			}
		}
	}
	rows, err = db.QueryContext(ctx, "select referrer, reference from Refs")
	if err != nil {
		return nil, fmt.Errorf("load reference graph: %w", err)
	}
	for rows.Next() {
		var a, b int64
		if err := rows.Scan(&a, &b); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load reference graph: %w", err)
		}
		i, ok1 := byID[a]
		j, ok2 := byID[b]
		if ok1 && ok2 && i != j {
			g.refs[i] = append(g.refs[i], j)
			g.referrer[j] = append(g.referrer[j], i)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load reference graph: %w", err)
	}
	rows, err = db.QueryContext(ctx, "select drv, path from DerivationOutputs")
	if err != nil {
		return nil, fmt.Errorf("load reference graph: %w", err)
	}
	for rows.Next() {
		var drv int64
		var path string
		if err := rows.Scan(&drv, &path); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load reference graph: %w", err)
		}
		d, ok1 := byID[drv]
		o, ok2 := g.byPath[path]
		if ok1 && ok2 {
			g.outputs[d] = append(g.outputs[d], o)
			g.derivers[o] = append(g.derivers[o], d)
		}
	}
	rows.Close()
	return g, rows.Err()
}

// bitset is a set of graph indices.
type bitset []uint64

func newBitset(n int) bitset      { return make(bitset, (n+63)/64) }
func (b bitset) has(i int32) bool { return b[i/64]&(1<<(uint(i)%64)) != 0 }
func (b bitset) set(i int32)      { b[i/64] |= 1 << (uint(i) % 64) }
func (b bitset) setNew(i int32) bool { // reports whether i was not yet set
	if b.has(i) {
		return false
	}
	b.set(i)
	return true
}

// keep selects the extra edges of the collector.
type keep struct{ outputs, derivations bool }

// markForward marks everything reachable from start along references,
// plus outputs of derivations (keep.outputs) and derivers (keep
// derivations), as computeFSClosure does for alive paths.
func (g *graph) markForward(alive bitset, start []int32, k keep) {
	todo := []int32{}
	for _, s := range start {
		if alive.setNew(s) {
			todo = append(todo, s)
		}
	}
	for len(todo) > 0 {
		i := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		push := func(j int32) {
			if alive.setNew(j) {
				todo = append(todo, j)
			}
		}
		for _, j := range g.refs[i] {
			push(j)
		}
		if k.outputs && strings.HasSuffix(g.paths[i], storepath.DrvExtension) {
			for _, j := range g.outputs[i] {
				push(j)
			}
		}
		if k.derivations && g.deriver[i] >= 0 {
			push(g.deriver[i])
		}
	}
}

// reverse returns the paths from which start is reachable by the
// collector's edges, i.e. what the collector visits when it considers
// deleting start (referrers, outputs of a derivation under keep
// derivations, derivers under keep outputs), start included.
func (g *graph) reverse(start int32, k keep) []int32 {
	seen := map[int32]bool{start: true}
	todo := []int32{start}
	out := []int32{}
	for len(todo) > 0 {
		i := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		out = append(out, i)
		push := func(j int32) {
			if !seen[j] {
				seen[j] = true
				todo = append(todo, j)
			}
		}
		for _, j := range g.referrer[i] {
			push(j)
		}
		if k.derivations && strings.HasSuffix(g.paths[i], storepath.DrvExtension) {
			for _, j := range g.outputs[i] {
				if g.deriver[j] == i {
					push(j)
				}
			}
		}
		if k.outputs {
			for _, j := range g.derivers[i] {
				push(j)
			}
		}
	}
	return out
}

// topoReferrersFirst orders the set so that each path precedes its
// references (Kahn's algorithm on the induced subgraph; cycles, which the
// database cannot hold except through self-references, are broken
// arbitrarily).
func (g *graph) topoReferrersFirst(set []int32) []int32 {
	in := map[int32]int{}
	for _, i := range set {
		in[i] = 0
	}
	for _, i := range set {
		for _, j := range g.refs[i] {
			if _, ok := in[j]; ok {
				in[j]++
			}
		}
	}
	var queue, out []int32
	for _, i := range set {
		if in[i] == 0 {
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		out = append(out, i)
		for _, j := range g.refs[i] {
			if d, ok := in[j]; ok {
				in[j] = d - 1
				if d == 1 {
					queue = append(queue, j)
				}
			}
		}
	}
	if len(out) < len(set) {
		done := map[int32]bool{}
		for _, i := range out {
			done[i] = true
		}
		for _, i := range set {
			if !done[i] {
				out = append(out, i)
			}
		}
	}
	return out
}

package detect

import (
	"errors"
	"slices"
)

// automaton is a byte-level Aho-Corasick automaton compiled to a dense DFA:
// every failure transition is resolved at build time, so the scan is one
// table load per byte of the normalized text and reports every overlapping
// match. It is written for this package (instead of a library's) so that a
// scan appends into a caller's reused slice and never allocates.
//
// Bytes are mapped to equivalence classes (bytes no pattern contains share
// one class), and state ids are premultiplied by the class count, so a
// transition is trans[state+class]. A transition into a state that ends a
// pattern has matchBit set.
type automaton struct {
	class   [256]uint8
	nclass  uint32
	trans   []uint32
	outIdx  []uint32 // per state index: start of its outputs in outs (len states+1)
	outs    []int32  // pattern ids, every pattern that ends in the state
	plen    []int32  // pattern length in bytes
	maxLen  int
	nstates int
}

const matchBit = 1 << 31

// acMatch is one pattern occurrence: pattern id and byte span [start, end).
type acMatch struct {
	pat        int32
	start, end int32
}

var errTooManyStates = errors.New("detect: the pattern automaton would exceed 2^31 table entries")

// buildAutomaton compiles the patterns (non-empty byte strings).
func buildAutomaton(pats []string) (*automaton, error) {
	a := &automaton{plen: make([]int32, len(pats))}
	// byte classes: one per byte used by a pattern, class 0 for the rest
	var used [256]bool
	for _, p := range pats {
		for i := 0; i < len(p); i++ {
			used[p[i]] = true
		}
	}
	n := uint32(1)
	for b := range 256 {
		if used[b] {
			a.class[b] = uint8(n)
			n++
		}
	}
	if n > 256 { // every byte used: fold the unused class away
		n = 256
		for b := range 256 {
			a.class[b] = uint8(b)
		}
	}
	a.nclass = n

	// trie with sparse children, states in creation order
	type node struct {
		next map[uint8]int32
		fail int32
		out  []int32
	}
	nodes := []node{{}}
	for id, p := range pats {
		a.plen[id] = int32(len(p))
		a.maxLen = max(a.maxLen, len(p))
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := a.class[p[i]]
			nx, ok := nodes[s].next[c]
			if !ok {
				if nodes[s].next == nil {
					nodes[s].next = map[uint8]int32{}
				}
				nx = int32(len(nodes))
				nodes[s].next[c] = nx
				nodes = append(nodes, node{})
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(id))
	}
	if uint64(len(nodes))*uint64(n) >= matchBit {
		return nil, errTooManyStates
	}
	a.nstates = len(nodes)

	// breadth-first: failure links, inherited outputs, dense transitions
	trans := make([]uint32, len(nodes)*int(n))
	order := make([]int32, 0, len(nodes))
	order = append(order, 0)
	keys := make([]uint8, 0, 256)
	for qi := 0; qi < len(order); qi++ {
		s := order[qi]
		keys = keys[:0]
		for c := range nodes[s].next {
			keys = append(keys, c)
		}
		slices.Sort(keys)
		for _, c := range keys {
			child := nodes[s].next[c]
			if s != 0 {
				f := nodes[s].fail
				for {
					if nx, ok := nodes[f].next[c]; ok {
						nodes[child].fail = nx
						break
					}
					if f == 0 {
						break
					}
					f = nodes[f].fail
				}
			}
			order = append(order, child)
		}
		if f := nodes[s].fail; s != 0 && len(nodes[f].out) > 0 {
			nodes[s].out = append(nodes[s].out, nodes[f].out...)
		}
	}
	// States are renumbered in breadth-first order, so the shallow states
	// the scan spends most of its time in share a few cache lines.
	id := make([]uint32, len(nodes))
	for i, s := range order {
		id[s] = uint32(i)
	}
	has := func(s int32) bool { return len(nodes[s].out) > 0 }
	for _, s := range order {
		row := trans[int(id[s])*int(n) : int(id[s]+1)*int(n)]
		var frow []uint32
		if s != 0 {
			f := id[nodes[s].fail]
			frow = trans[int(f)*int(n) : int(f+1)*int(n)]
		}
		for c := range row {
			if nx, ok := nodes[s].next[uint8(c)]; ok {
				v := id[nx] * n
				if has(nx) {
					v |= matchBit
				}
				row[c] = v
			} else if s != 0 {
				row[c] = frow[c] // the failure state is shallower: already filled
			} else {
				row[c] = 0
			}
		}
	}
	a.trans = trans
	a.outIdx = make([]uint32, len(nodes)+1)
	for i, s := range order {
		a.outIdx[i] = uint32(len(a.outs))
		a.outs = append(a.outs, nodes[s].out...)
	}
	a.outIdx[len(nodes)] = uint32(len(a.outs))
	return a, nil
}

// scan appends every (overlapping) occurrence of every pattern in buf to
// dst. A DFA scan is bound by the latency of one dependent table load per
// byte, so a longer text is cut in two halves scanned in one loop by two
// independent walkers: the first runs maxLen-1 bytes past the middle and
// keeps the matches that start before it, the second starts at the middle
// and keeps the rest. Matches are grouped by walker, not sorted.
func (a *automaton) scan(buf []byte, dst []acMatch) []acMatch {
	if len(buf) < 64 || len(buf) > 1<<30 {
		return a.scanRange(buf, 0, len(buf), 0, dst)
	}
	h := len(buf) / 2
	endA := min(len(buf), h+a.maxLen-1)
	trans, cls, n := a.trans, &a.class, a.nclass
	var sa, sb uint32
	i, j := 0, h
	// lockstep while both walkers have bytes left
	steps := min(endA, len(buf)-h)
	for k := 0; k < steps; k++ {
		sa = trans[sa+uint32(cls[buf[i]])]
		sb = trans[sb+uint32(cls[buf[j]])]
		i++
		j++
		if (sa|sb)&matchBit == 0 {
			continue
		}
		if sa&matchBit != 0 {
			sa &^= matchBit
			dst = a.emit(dst, sa/n, i, 0, h)
		}
		if sb&matchBit != 0 {
			sb &^= matchBit
			dst = a.emit(dst, sb/n, j, h, len(buf))
		}
	}
	// the longer walker finishes alone
	for ; i < endA; i++ {
		sa = trans[sa+uint32(cls[buf[i]])]
		if sa&matchBit != 0 {
			sa &^= matchBit
			dst = a.emit(dst, sa/n, i+1, 0, h)
		}
	}
	for ; j < len(buf); j++ {
		sb = trans[sb+uint32(cls[buf[j]])]
		if sb&matchBit != 0 {
			sb &^= matchBit
			dst = a.emit(dst, sb/n, j+1, h, len(buf))
		}
	}
	return dst
}

// scanRange scans buf[from:to] from the start state, keeping matches that
// start at or after keep.
func (a *automaton) scanRange(buf []byte, from, to, keep int, dst []acMatch) []acMatch {
	trans, cls, n := a.trans, &a.class, a.nclass
	s := uint32(0)
	for i := from; i < to; i++ {
		s = trans[s+uint32(cls[buf[i]])]
		if s&matchBit != 0 {
			s &^= matchBit
			dst = a.emit(dst, s/n, i+1, keep, len(buf))
		}
	}
	return dst
}

// emit appends the outputs of state st ending at end whose start lies in
// [lo, hi).
func (a *automaton) emit(dst []acMatch, st uint32, end, lo, hi int) []acMatch {
	for _, p := range a.outs[a.outIdx[st]:a.outIdx[st+1]] {
		if start := end - int(a.plen[p]); start >= lo && start < hi {
			dst = append(dst, acMatch{pat: p, start: int32(start), end: int32(end)})
		}
	}
	return dst
}

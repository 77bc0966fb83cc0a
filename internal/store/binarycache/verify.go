package binarycache

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"cairn/internal/compat/narinfo"
	"cairn/internal/compat/nixhash"
	fastxz "cairn/internal/compress/xz"
)

// decoders keeps zstd and xz decoders for reuse: a new one allocates its
// window and tables, which costs page faults and garbage for every NAR.
// The zero value is ready to use.
type decoders struct{ zstd, xz sync.Pool }

// decompressor returns a reader of the data compressed with method in r
// and the function that releases it.
func (ds *decoders) decompressor(method string, r io.Reader) (io.Reader, func(), error) {
	switch method {
	case "none":
		return r, func() {}, nil
	case "xz":
		// internal/compress/xz decodes about twice as fast as
		// ulikunitz/xz but only LZMA2 without BCJ or delta filters:
		// for other files it fails before any output, and ulikunitz
		// reads them, the bytes already consumed replayed first.
		x, _ := ds.xz.Get().(*fastxz.Reader)
		if x == nil {
			x = new(fastxz.Reader)
			// The NAR's SHA-256 (NarHash, checked by the verifier or
			// the store for everything decompressor's caller reads)
			// covers what the per-block CRC-64 would: computing both
			// cost ~6% of decoding.
			x.IgnoreCheck(true)
		}
		rec := &replayRecorder{r: r}
		err := x.Reset(rec)
		if errors.Is(err, fastxz.ErrUnsupported) {
			ds.xz.Put(x)
			u, err := xz.NewReader(io.MultiReader(bytes.NewReader(rec.buf), r))
			return u, func() {}, err
		}
		if err != nil {
			return nil, nil, err
		}
		rec.buf, rec.done = nil, true
		return x, func() {
			x.Reset(eofReader{}) // fails, keeping the buffers but not the input
			ds.xz.Put(x)
		}, nil
	case "bzip2":
		return bzip2.NewReader(r), func() {}, nil
	case "gzip":
		g, err := gzip.NewReader(r)
		return g, func() {}, err
	case "zstd":
		// One goroutine per decoder (WithDecoderConcurrency(1)):
		// Substitute runs several NARs at once already, and a pooled
		// decoder holds no goroutine.
		z, _ := ds.zstd.Get().(*zstd.Decoder)
		if z == nil {
			var err error
			if z, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true)); err != nil {
				return nil, nil, err
			}
		}
		if err := z.Reset(r); err != nil {
			z.Close()
			return nil, nil, err
		}
		return z, func() {
			if z.Reset(nil) == nil {
				ds.zstd.Put(z)
			}
		}, nil
	}
	return nil, nil, fmt.Errorf("unsupported compression method '%s'", method)
}

// countReader counts what is read through it and, if report is set,
// reports the count every progressStep bytes.
type countReader struct {
	r      io.Reader
	n      uint64
	report func(n uint64)
	next   uint64
}

// progressStep is how many bytes of a compressed file are read between
// progress reports.
const progressStep = 1 << 20

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	if c.report != nil && c.n >= c.next {
		c.report(c.n)
		c.next = c.n + progressStep
	}
	return n, err
}

// verifier streams a decompressed NAR and checks it against a narinfo.
// It hands out at most NarSize bytes and returns the last of them only
// after the compressed stream ended cleanly, nothing followed it, the
// sizes matched and, if it hashes the NAR (checkNar), NarHash matched;
// otherwise the read returns an error instead.
//
// FileHash is not checked, as in Nix 2.8: it is not signed, and the NAR
// hash (checked here or by the destination store) covers everything the
// compressed file decodes to; hashing the compressed bytes as well
// costs a third of a NAR hash per byte and catches nothing more.
type verifier struct {
	raw     io.ReadCloser
	file    *countReader // the compressed bytes
	src     io.Reader    // what dec reads: file, or a buffer over it
	dec     io.Reader
	closeFn func()
	nar     *nixhash.Hasher // nil: the NAR is not hashed here
	n       uint64          // NAR bytes handed out
	ni      *narinfo.NarInfo
	what    string // printed store path
	done    bool
	err     error
}

// newVerifier returns a verifier of the NAR ni describes, read from the
// compressed file raw. With checkNar false the NAR's bytes are counted
// but not hashed: for a reader of store.Store.AddNar, which checks
// NarHash and NarSize itself and registers nothing on a mismatch
// (storetest's Rejects holds every store to that).
func newVerifier(ds *decoders, raw io.ReadCloser, ni *narinfo.NarInfo, what string, checkNar bool, progress func(fileBytes uint64)) (*verifier, error) {
	if ni.NarHash.Algo != nixhash.SHA256 {
		return nil, fmt.Errorf("download NAR of '%s': NarHash is not sha256", what)
	}
	v := &verifier{raw: raw, ni: ni, what: what}
	if checkNar {
		v.nar = nixhash.NewHasher(nixhash.SHA256)
	}
	v.file = &countReader{r: raw, report: progress, next: progressStep}
	v.src = v.file
	if ni.Compression == "xz" {
		// ulikunitz/xz reads a few bytes per call; unbuffered, that is
		// a read(2) per few bytes of a local file.
		v.src = bufio.NewReaderSize(v.file, 64<<10)
	}
	dec, closeFn, err := ds.decompressor(ni.Compression, v.src)
	if err != nil {
		return nil, fmt.Errorf("download NAR of '%s': %w", what, err)
	}
	v.dec, v.closeFn = dec, closeFn
	return v, nil
}

// replayRecorder keeps what is read through it until done, so that a
// fallback decoder can be given the bytes another one consumed.
type replayRecorder struct {
	r    io.Reader
	buf  []byte
	done bool
}

func (rc *replayRecorder) Read(p []byte) (int, error) {
	n, err := rc.r.Read(p)
	if !rc.done {
		rc.buf = append(rc.buf, p[:n]...)
	}
	return n, err
}

// eofReader is empty: resetting a pooled xz reader onto it drops the
// reference to the NAR's input.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func (v *verifier) fail(format string, args ...any) error {
	v.err = fmt.Errorf("download NAR of '%s': "+format, append([]any{v.what}, args...)...)
	return v.err
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.done {
		return 0, io.EOF
	}
	left := v.ni.NarSize - v.n
	if uint64(len(p)) > left {
		p = p[:left]
	}
	n, err := v.dec.Read(p)
	if v.nar != nil {
		v.nar.Write(p[:n])
	}
	v.n += uint64(n)
	if v.n == v.ni.NarSize {
		if ferr := v.finish(); ferr != nil {
			return 0, ferr
		}
		v.done = true
		return n, nil
	}
	if err == io.EOF {
		return 0, v.fail("truncated: %d of %d NAR bytes: %w", v.n, v.ni.NarSize, io.ErrUnexpectedEOF)
	}
	if err != nil {
		if isTransient(err) || errors.Is(err, ErrStalled) {
			v.err = fmt.Errorf("download NAR of '%s': %w", v.what, err)
			return 0, v.err
		}
		return 0, v.fail("%s stream: %w", v.ni.Compression, err)
	}
	return n, nil
}

// finish checks the end of the streams and every hash and size.
func (v *verifier) finish() error {
	var b [1]byte
	n, err := io.ReadFull(v.dec, b[:])
	if n > 0 {
		return v.fail("the %s stream holds more than NarSize = %d bytes", v.ni.Compression, v.ni.NarSize)
	}
	if err != io.EOF {
		if isTransient(err) {
			v.err = fmt.Errorf("download NAR of '%s': %w", v.what, err)
			return v.err
		}
		return v.fail("%s stream: %w", v.ni.Compression, err)
	}
	// Some decompressors stop before the end of the file; the rest must
	// be empty.
	if n, err := io.Copy(io.Discard, v.src); err != nil {
		return v.fail("%w", err)
	} else if n > 0 {
		return v.fail("%d bytes of trailing data after the %s stream", n, v.ni.Compression)
	}
	if v.file.report != nil {
		v.file.report(v.file.n)
	}
	if v.ni.FileSize != 0 && v.file.n != v.ni.FileSize {
		return v.fail("file size mismatch: specified %d, got %d", v.ni.FileSize, v.file.n)
	}
	if v.nar != nil {
		if got := v.nar.Sum(); !got.Equal(v.ni.NarHash) {
			return v.fail("NAR hash mismatch:\n  specified: %s\n  got:       %s",
				v.ni.NarHash.Encode(nixhash.Nix32, true), got.Encode(nixhash.Nix32, true))
		}
	}
	return nil
}

// Close releases the decompressor (once: it may go back to a pool) and
// closes the file.
func (v *verifier) Close() error {
	if v.closeFn == nil {
		return nil
	}
	v.closeFn()
	v.closeFn, v.dec = nil, nil
	if v.err == nil {
		v.err = os.ErrClosed
	}
	return v.raw.Close()
}

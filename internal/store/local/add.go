package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store"
	"cairn/internal/store/refscan"
	"golang.org/x/sys/unix"
)

// tempEntry is a scratch entry in the store directory, named like a
// store path with a random hash part that is registered as a temporary
// root, so that the garbage collector (ours or Nix's) leaves it alone
// while we live and deletes it if we crash.
type tempEntry struct {
	path      storepath.Path
	real      string
	installed bool // renamed into place: nothing left to remove
}

func (s *Store) newTempEntry(ctx context.Context) (*tempEntry, error) {
	var d [storepath.DigestSize]byte
	if _, err := rand.Read(d[:]); err != nil {
		return nil, err
	}
	p, err := storepath.FromDigest(d[:], "cairn-tmp")
	if err != nil {
		return nil, err
	}
	if err := s.AddTempRoot(ctx, p); err != nil {
		return nil, err
	}
	return &tempEntry{path: p, real: s.RealPath(p)}, nil
}

func (t *tempEntry) remove() {
	if !t.installed {
		fsutil.RemoveAll(t.real)
	}
}

// openFile is os.OpenFile for regular files, without the poller:
// os.OpenFile offers every file to epoll, which costs four fcntl calls
// and a failing epoll_ctl for a regular file.
func openFile(name string, flag int, perm uint32) (*os.File, error) {
	for {
		fd, err := unix.Open(name, flag|unix.O_CLOEXEC, perm)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}

// countWriter counts the bytes written through it.
type countWriter struct{ n uint64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += uint64(len(p)); return len(p), nil }

// AddNar makes info.Path valid with the contents of the NAR stream r, as
// Nix's addToStore(ValidPathInfo, Source): the NAR is restored under a
// scratch name while its sha256 and size are checked against info, a
// content address in info is verified, the tree is canonicalised and
// renamed into place, and the path is registered. info.References must
// be valid already (or be info.Path). If the path is valid already, r is
// not read and nothing changes.
func (s *Store) AddNar(ctx context.Context, info *store.PathInfo, r io.Reader) error {
	return s.addNar(ctx, info, r, false)
}

// RepairNar is AddNar that replaces the contents of an already valid
// path (nix-store --repair-path with a known-good NAR).
func (s *Store) RepairNar(ctx context.Context, info *store.PathInfo, r io.Reader) error {
	return s.addNar(ctx, info, r, true)
}

func (s *Store) addNar(ctx context.Context, info *store.PathInfo, r io.Reader, repair bool) error {
	if info.NarHash.Algo != nixhash.SHA256 {
		return fmt.Errorf("add %s: NAR hash must be sha256", s.print(info.Path))
	}
	if err := info.CheckCA(s.dir); err != nil {
		return fmt.Errorf("add %s: %w", s.print(info.Path), err)
	}
	if err := s.AddTempRoot(ctx, info.Path); err != nil {
		return err
	}
	if !repair {
		if ok, err := s.IsValid(ctx, info.Path); err != nil || ok {
			return err
		}
	}
	lock, err := s.lockPath(ctx, info.Path)
	if err != nil {
		return err
	}
	defer func() { lock.unlock(err == nil) }()
	if !repair {
		if ok, err := s.IsValid(ctx, info.Path); err != nil || ok {
			return err
		}
	}
	tmp, err := s.newTempEntry(ctx)
	if err != nil {
		return fmt.Errorf("add %s: %w", s.print(info.Path), err)
	}
	defer tmp.remove()
	h := nixhash.NewHasher(nixhash.SHA256)
	if err = nar.Restore(io.TeeReader(r, h), tmp.real); err != nil {
		return fmt.Errorf("add %s: %w", s.print(info.Path), err)
	}
	if n, _ := io.ReadFull(r, make([]byte, 1)); n != 0 {
		err = fmt.Errorf("add %s: trailing data after the NAR", s.print(info.Path))
		return err
	}
	if got := h.Sum(); !got.Equal(info.NarHash) {
		err = fmt.Errorf("hash mismatch importing path '%s';\n  specified: %s\n  got:       %s",
			s.print(info.Path), info.NarHash.Encode(nixhash.Nix32, true), got.Encode(nixhash.Nix32, true))
		return err
	}
	if h.Len() != info.NarSize {
		err = fmt.Errorf("size mismatch importing path '%s';\n  specified: %d\n  got:       %d", s.print(info.Path), info.NarSize, h.Len())
		return err
	}
	if info.HasCA() {
		var got nixhash.Hash
		var herr error
		if !info.CA.Text && info.CA.Method == storepath.Recursive && info.CA.Hash.Algo == nixhash.SHA256 {
			got = h.Sum() // the NAR hash we just computed
		} else {
			got, herr = hashCA(tmp.real, info.CA)
		}
		if herr != nil {
			err = fmt.Errorf("add %s: %w", s.print(info.Path), herr)
			return err
		}
		if !got.Equal(info.CA.Hash) {
			err = fmt.Errorf("ca hash mismatch importing path '%s';\n  specified: %s\n  got:       %s",
				s.print(info.Path), info.CA.Hash.Encode(nixhash.Nix32, true), got.Encode(nixhash.Nix32, true))
			return err
		}
	}
	if err = s.install(ctx, tmp, []*store.PathInfo{info}); err != nil {
		return err
	}
	return nil
}

// hashCA computes the hash a content address of kind ca claims for the
// tree at real.
func hashCA(real string, ca storepath.ContentAddress) (nixhash.Hash, error) {
	algo := ca.Hash.Algo
	if ca.Text || ca.Method == storepath.Flat {
		f, err := os.Open(real)
		if err != nil {
			return nixhash.Hash{}, err
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			return nixhash.Hash{}, fmt.Errorf("flat or text content address on something that is not a regular file")
		}
		h := nixhash.NewHasher(algo)
		if _, err := io.Copy(h, f); err != nil {
			return nixhash.Hash{}, err
		}
		return h.Sum(), nil
	}
	h := nixhash.NewHasher(algo)
	if err := nar.DumpPath(h, real); err != nil {
		return nixhash.Hash{}, err
	}
	return h.Sum(), nil
}

// place canonicalises the scratch tree and moves it to the real path of
// p (replacing an invalid or, when repairing, stale leftover). The
// caller holds the path lock.
func (s *Store) place(tmp *tempEntry, p storepath.Path) error {
	if err := fsutil.Canonicalise(tmp.real, fsutil.CanonOptions{FromUID: -1, IgnoredXattrs: s.opts.IgnoredXattrs}); err != nil {
		return fmt.Errorf("add %s: %w", s.print(p), err)
	}
	real := s.RealPath(p)
	// Usually nothing is there. A stale file is replaced by the rename
	// itself; a directory has to go first.
	if err := os.Rename(tmp.real, real); err != nil {
		if _, err := fsutil.RemoveAll(real); err != nil {
			return fmt.Errorf("add %s: remove stale contents: %w", s.print(p), err)
		}
		if err := os.Rename(tmp.real, real); err != nil {
			return fmt.Errorf("add %s: %w", s.print(p), err)
		}
	}
	tmp.installed = true
	return nil
}

// install canonicalises the scratch tree, moves it to the real path of
// infos[0] (replacing an invalid or, when repairing, stale leftover) and
// registers infos. The caller holds the path lock.
func (s *Store) install(ctx context.Context, tmp *tempEntry, infos []*store.PathInfo) error {
	p := infos[0].Path
	if err := s.place(tmp, p); err != nil {
		return err
	}
	real := s.RealPath(p)
	if s.opts.AutoOptimise {
		if _, err := s.OptimisePath(ctx, p); err != nil {
			fsutil.RemoveAll(real)
			return err
		}
	}
	if err := s.RegisterValidPaths(ctx, infos); err != nil {
		// Contents without a row are garbage; remove them now.
		fsutil.RemoveAll(real)
		return err
	}
	return nil
}

// AddOptions describe content-addressed data to add (AddPath, AddDump).
type AddOptions struct {
	// Name is the name part of the resulting path.
	Name string
	// Method is Recursive (hash the NAR; nix-store --add, builtins.path,
	// recursive fixed outputs) or Flat (hash the bytes of a single
	// regular file; flat fixed outputs).
	Method storepath.Method
	// Algo is the content hash algorithm; zero means sha256. Only
	// recursive sha256 gives a "source" path that may have references.
	Algo nixhash.Algo
	// References of the new path (must be valid).
	References []storepath.Path
	// ScanReferences are candidates: those whose hash part occurs in
	// the NAR are added to References.
	ScanReferences []storepath.Path
	// Repair rewrites the contents even if the path is valid.
	Repair bool
	// Filter, for AddPath with Recursive, leaves out the directory
	// entries it rejects (builtins.path / builtins.filterSource).
	Filter nar.Filter
}

// smallFileSize is the size up to which AddPath reads a regular file
// into memory rather than streaming its NAR through a pipe.
const smallFileSize = 1 << 20

// AddPath adds the file system object at fsPath as a content-addressed
// path (Nix's addToStore(name, path, method, algo)) and returns its
// info. Symlinks are not followed; for Flat, fsPath must be a regular
// file, whose executable bit is dropped as in Nix.
func (s *Store) AddPath(ctx context.Context, fsPath string, opts AddOptions) (*store.PathInfo, error) {
	if opts.Method == storepath.Flat {
		f, err := os.Open(fsPath)
		if err != nil {
			return nil, fmt.Errorf("add %s: %w", fsPath, err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("add %s: %w", fsPath, err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("add %s: flat hashing needs a regular file", fsPath)
		}
		return s.addContent(ctx, opts, func(dst string, hashers io.Writer) error {
			return writeFlat(dst, io.TeeReader(f, hashers))
		})
	}
	if fi, err := os.Lstat(fsPath); err == nil && fi.Mode().IsRegular() && fi.Size() <= smallFileSize {
		return s.addSmallFile(ctx, fsPath, opts)
	}
	pr, pw := io.Pipe()
	go func() {
		// Buffered: every write to a pipe waits for the reader, and the
		// NAR of a small file is a dozen small writes.
		bw := bufio.NewWriterSize(pw, 64<<10)
		err := nar.DumpPathFilter(bw, fsPath, opts.Filter)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	return s.AddDump(ctx, pr, opts)
}

// addSmallFile is AddPath (Recursive) for a small regular file: its
// bytes are read once, hashed inside their NAR framing and written to the
// scratch entry, with no NAR stream, pipe or goroutine in between (for
// small files those cost more than the work). The result is the same as
// restoring the file's NAR.
func (s *Store) addSmallFile(ctx context.Context, fsPath string, opts AddOptions) (*store.PathInfo, error) {
	f, err := openFile(fsPath, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("add %s: %w", fsPath, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("add %s: %w", fsPath, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > smallFileSize {
		return nil, fmt.Errorf("add %s: file changed while being read", fsPath)
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("add %s: file changed size while being read: %w", fsPath, err)
	}
	// As nar.DumpPath: only the owner-executable bit is kept.
	exec := fi.Mode()&0o100 != 0
	return s.addContent(ctx, opts, func(dst string, hashers io.Writer) error {
		nw := nar.NewWriter(hashers)
		if err := nw.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeRegular, Size: int64(len(data)), Executable: exec}); err != nil {
			return err
		}
		if _, err := nw.Write(data); err != nil {
			return err
		}
		if err := nw.Close(); err != nil {
			return err
		}
		perm := os.FileMode(0o444)
		if exec {
			perm = 0o555
		}
		out, err := openFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, uint32(perm))
		if err != nil {
			return err
		}
		if _, err := out.Write(data); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// AddDump is AddPath for content given as a NAR stream (Nix's
// addToStoreFromDump): for Flat, the NAR must hold a single regular file.
func (s *Store) AddDump(ctx context.Context, r io.Reader, opts AddOptions) (*store.PathInfo, error) {
	if opts.Method == storepath.Flat {
		return s.addContent(ctx, opts, func(dst string, hashers io.Writer) error {
			nr := nar.NewReader(r)
			h, err := nr.Next()
			if err != nil {
				return err
			}
			if h.Type != nar.TypeRegular {
				return fmt.Errorf("flat hashing needs a regular file, not a %v", h.Type)
			}
			if err := writeFlat(dst, io.TeeReader(nr, hashers)); err != nil {
				return err
			}
			if _, err := nr.Next(); err != io.EOF {
				return fmt.Errorf("flat hashing needs a single regular file")
			}
			return nil
		})
	}
	return s.addContent(ctx, opts, func(dst string, hashers io.Writer) error {
		if err := nar.Restore(io.TeeReader(r, hashers), dst); err != nil {
			return err
		}
		if n, _ := io.ReadFull(r, make([]byte, 1)); n != 0 {
			return errors.New("trailing data after the NAR")
		}
		return nil
	})
}

func writeFlat(dst string, r io.Reader) error {
	f, err := openFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// AddText adds a text file (builtins.toFile, .drv files): the path is a
// "text" path of sha256(contents) and refs.
func (s *Store) AddText(ctx context.Context, name string, contents []byte, refs []storepath.Path) (*store.PathInfo, error) {
	p, ca, refs, err := s.textPath(name, contents, refs)
	if err != nil {
		return nil, err
	}
	return s.addKnown(ctx, p, ca, refs, false, 0, nil, func(dst string) error {
		// Straight into the scratch entry: a temporary file under a
		// name that is not a store path would be fair game for a
		// concurrent collector.
		return writeFlat(dst, bytes.NewReader(contents))
	})
}

// textPath is the path, content address and sorted references of a text
// file (AddText).
func (s *Store) textPath(name string, contents []byte, refs []storepath.Path) (storepath.Path, storepath.ContentAddress, []storepath.Path, error) {
	if err := storepath.CheckNameStrict(name); err != nil {
		return storepath.Path{}, storepath.ContentAddress{}, nil, fmt.Errorf("add text %s: %w", name, err)
	}
	ca := storepath.ContentAddress{Text: true, Hash: nixhash.Sum(nixhash.SHA256, contents)}
	refs = store.SortPaths(append([]storepath.Path(nil), refs...))
	p, err := s.dir.MakeTextPath(name, ca.Hash, refs)
	if err != nil {
		return storepath.Path{}, storepath.ContentAddress{}, nil, fmt.Errorf("add text %s: %w", name, err)
	}
	return p, ca, refs, nil
}

// addContent writes content with fill into a scratch entry while hashing
// it for the content address (and scanning it for references), then
// computes the path and installs it there.
func (s *Store) addContent(ctx context.Context, opts AddOptions, fill func(dst string, hashers io.Writer) error) (*store.PathInfo, error) {
	if err := storepath.CheckNameStrict(opts.Name); err != nil {
		return nil, fmt.Errorf("add %s: %w", opts.Name, err)
	}
	algo := opts.Algo
	if algo == 0 {
		algo = nixhash.SHA256
	}
	tmp, err := s.newTempEntry(ctx)
	if err != nil {
		return nil, fmt.Errorf("add %s: %w", opts.Name, err)
	}
	defer tmp.remove()
	caHash := nixhash.NewHasher(algo)
	var scan *refscan.Scanner
	var w io.Writer = caHash
	if len(opts.ScanReferences) > 0 {
		hp := make([]string, len(opts.ScanReferences))
		for i, p := range opts.ScanReferences {
			hp[i] = p.HashPart()
		}
		scan = refscan.New(hp)
		w = io.MultiWriter(caHash, scan)
	}
	if err := fill(tmp.real, w); err != nil {
		return nil, fmt.Errorf("add %s: %w", opts.Name, err)
	}
	refs := append([]storepath.Path(nil), opts.References...)
	if scan != nil {
		found := map[string]bool{}
		for _, h := range scan.Found() {
			found[h] = true
		}
		for _, p := range opts.ScanReferences {
			if found[p.HashPart()] {
				refs = append(refs, p)
			}
		}
	}
	refs = store.SortPaths(refs)
	ca := storepath.ContentAddress{Method: opts.Method, Hash: caHash.Sum()}
	p, err := s.dir.MakeFixedOutputPath(opts.Name, opts.Method, ca.Hash, refs, false)
	if err != nil {
		return nil, fmt.Errorf("add %s: %w", opts.Name, err)
	}
	// For Recursive the bytes hashed were the NAR (caHash.Len() is its
	// size); for Flat they were the file, so NAR size is unknown here.
	var narSize uint64
	if opts.Method == storepath.Recursive {
		narSize = caHash.Len()
	}
	return s.addKnown(ctx, p, ca, refs, opts.Repair, narSize, tmp, nil)
}

// addKnown installs content for the content-addressed path p: unless p
// is valid already, it takes the content from the scratch entry filled
// (or, if that is nil, fills a new one with fill), computes the NAR hash
// and size and installs and registers it.
// narSize, if not zero, is the NAR size of the content when ca is a
// recursive sha256 (whose hash is then the NAR hash), which saves a
// second pass over the content.
func (s *Store) addKnown(ctx context.Context, p storepath.Path, ca storepath.ContentAddress, refs []storepath.Path, repair bool, narSize uint64, filled *tempEntry, fill func(dst string) error) (info *store.PathInfo, err error) {
	if err := s.AddTempRoot(ctx, p); err != nil {
		return nil, err
	}
	// A path AddTextDeferred added is written and registered first: its
	// writing takes the lock we are about to take.
	if s.isPending(p) {
		if err := s.Sync(ctx); err != nil {
			return nil, err
		}
	}
	// A valid path has contents, so while there are none the database
	// need not be asked before taking the lock (it is asked after).
	if !repair {
		if info, err := s.validIfPresent(ctx, p); info != nil || err != nil {
			return info, err
		}
	}
	lock, err := s.lockPath(ctx, p)
	if err != nil {
		return nil, err
	}
	defer func() { lock.unlock(err == nil) }()
	if !repair {
		if info, err := s.QueryPathInfo(ctx, p); err == nil {
			return info, nil
		} else if !errors.Is(err, store.ErrNotValid) {
			return nil, err
		}
	}
	tmp := filled
	if tmp == nil {
		if tmp, err = s.newTempEntry(ctx); err != nil {
			return nil, fmt.Errorf("add %s: %w", s.print(p), err)
		}
		defer tmp.remove()
		if err = fill(tmp.real); err != nil {
			return nil, fmt.Errorf("add %s: %w", s.print(p), err)
		}
	}
	// What the database will say: a new row gets this registration
	// time (a repaired one keeps its own, so it is read back below).
	info = &store.PathInfo{Path: p, References: refs, CA: ca, RegistrationTime: time.Unix(time.Now().Unix(), 0)}
	if narSize != 0 && !ca.Text && ca.Method == storepath.Recursive && ca.Hash.Algo == nixhash.SHA256 {
		info.NarHash, info.NarSize = ca.Hash, narSize
	} else {
		h := nixhash.NewHasher(nixhash.SHA256)
		if err = nar.DumpPath(h, tmp.real); err != nil {
			return nil, fmt.Errorf("add %s: %w", s.print(p), err)
		}
		info.NarHash, info.NarSize = h.Sum(), h.Len()
	}
	if err = s.install(ctx, tmp, []*store.PathInfo{info}); err != nil {
		return nil, err
	}
	if repair {
		return s.QueryPathInfo(ctx, p)
	}
	return info, nil
}

// HashPath computes the NAR hash and size of the tree at fsPath and which
// of candidates it refers to (their hash parts occur in its NAR), in one
// pass: what a builder needs to register an output.
func HashPath(fsPath string, candidates []storepath.Path) (narHash nixhash.Hash, narSize uint64, refs []storepath.Path, err error) {
	hp := make([]string, len(candidates))
	for i, p := range candidates {
		hp[i] = p.HashPart()
	}
	scan := refscan.New(hp)
	h := nixhash.NewHasher(nixhash.SHA256)
	if err := nar.DumpPath(io.MultiWriter(h, scan), fsPath); err != nil {
		return nixhash.Hash{}, 0, nil, err
	}
	found := map[string]bool{}
	for _, x := range scan.Found() {
		found[x] = true
	}
	for _, p := range candidates {
		if found[p.HashPart()] {
			refs = append(refs, p)
		}
	}
	return h.Sum(), h.Len(), store.SortPaths(refs), nil
}

// NarFromPath writes the NAR serialisation of the valid path p to w.
func (s *Store) NarFromPath(ctx context.Context, p storepath.Path, w io.Writer) error {
	if ok, err := s.IsValid(ctx, p); err != nil {
		return err
	} else if !ok {
		return &store.NotValidError{Path: s.print(p)}
	}
	return nar.DumpPath(w, s.RealPath(p))
}

// validIfPresent returns p's info if p is valid, and nil if it is not,
// without asking the database when p has no contents (a valid path has
// them).
func (s *Store) validIfPresent(ctx context.Context, p storepath.Path) (*store.PathInfo, error) {
	if _, err := os.Lstat(s.RealPath(p)); err != nil {
		return nil, nil
	}
	info, err := s.QueryPathInfo(ctx, p)
	if errors.Is(err, store.ErrNotValid) {
		return nil, nil
	}
	return info, err
}

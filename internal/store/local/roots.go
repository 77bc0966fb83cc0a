package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"cairn/internal/compat/nixbase32"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
)

// Roots maps each root store path to where it was found: a link or file
// under gcroots/ or profiles/, "{temp:<pid>}", a /proc file, or
// "{censored}".
type Roots map[storepath.Path][]string

func (r Roots) add(p storepath.Path, from string) { r[p] = append(r[p], from) }

// RootsOptions controls FindRoots.
type RootsOptions struct {
	// NoRuntimeRoots skips the scan of /proc for store paths in use by
	// running processes.
	NoRuntimeRoots bool
	// NoTempRoots skips the temporary roots of live processes.
	NoTempRoots bool
	// Censor replaces the sources of runtime and temporary roots with
	// "{censored}", as Nix does for non-root users.
	Censor bool
}

const censored = "{censored}"

// FindRoots returns the garbage collector roots: symlinks into the store
// (directly, or indirectly through a symlink elsewhere) and files named
// like store paths under gcroots/ and profiles/, runtime roots and
// temporary roots. Only valid paths count. Stale links under
// gcroots/auto are removed, as Nix does.
func (s *Store) FindRoots(ctx context.Context, opts RootsOptions) (Roots, error) {
	roots := Roots{}
	if err := s.findPermanentRoots(ctx, roots); err != nil {
		return nil, err
	}
	if !opts.NoRuntimeRoots {
		if err := s.findRuntimeRoots(ctx, roots, opts.Censor); err != nil {
			return nil, err
		}
	}
	if !opts.NoTempRoots {
		tmp, err := s.readTempRoots(opts.Censor)
		if err != nil {
			return nil, err
		}
		for _, t := range tmp {
			if p, err := s.dir.Parse(t.path); err == nil {
				if ok, err := s.IsValid(ctx, p); err != nil {
					return nil, err
				} else if ok {
					roots.add(p, t.from)
				}
			}
		}
	}
	return roots, nil
}

func (s *Store) findPermanentRoots(ctx context.Context, roots Roots) error {
	auto := filepath.Join(s.stateDir, "gcroots", "auto") + "/"
	found := func(link, target string) error {
		p, _, err := s.dir.ParseSub(target)
		if err != nil {
			return nil // not a store path
		}
		ok, err := s.IsValid(ctx, p)
		if err != nil {
			return err
		}
		if ok {
			roots.add(p, link)
		}
		return nil
	}
	var walk func(path string, typ fs.FileMode) error
	walk = func(path string, typ fs.FileMode) error {
		if typ == fs.ModeIrregular {
			fi, err := os.Lstat(path)
			if err != nil {
				return ignorePermanent(err)
			}
			typ = fi.Mode().Type()
		}
		switch {
		case typ.IsDir():
			ents, err := os.ReadDir(path)
			if err != nil {
				return ignorePermanent(err)
			}
			for _, e := range ents {
				if err := walk(filepath.Join(path, e.Name()), e.Type()); err != nil {
					return err
				}
			}
		case typ&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return ignorePermanent(err)
			}
			if s.inStore(target) {
				return found(path, target)
			}
			// An indirect root: a link to a link into the store.
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(path), target)
			}
			target = s.toReal(target)
			fi, err := os.Lstat(target)
			if errors.Is(err, fs.ErrNotExist) {
				if strings.HasPrefix(path, auto) {
					os.Remove(path)
				}
				return nil
			}
			if err != nil {
				return ignorePermanent(err)
			}
			if fi.Mode()&fs.ModeSymlink == 0 {
				return nil
			}
			target2, err := os.Readlink(target)
			if err != nil {
				return ignorePermanent(err)
			}
			if s.inStore(target2) {
				return found(target, target2)
			}
		case typ.IsRegular():
			if p, err := storepath.ParseBase(filepath.Base(path)); err == nil {
				return found(path, s.print(p))
			}
		}
		return nil
	}
	for _, d := range []string{filepath.Join(s.stateDir, "gcroots"), filepath.Join(s.stateDir, "profiles")} {
		if err := walk(d, fs.ModeIrregular); err != nil {
			return fmt.Errorf("find roots: %w", err)
		}
	}
	return nil
}

// toReal maps an absolute logical path under a chroot store to its real
// location (links in the state directory point at logical paths only if
// Nix ran inside the chroot; links we or Nix create outside point at real
// paths, which are returned unchanged).
func (s *Store) toReal(p string) string {
	if s.opts.Root == "" || strings.HasPrefix(p, s.opts.Root+"/") {
		return p
	}
	if _, err := os.Lstat(p); err == nil {
		return p
	}
	return filepath.Join(s.opts.Root, p)
}

func ignorePermanent(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "not a directory") {
		return nil
	}
	return err
}

// inStore reports whether the absolute path p lies inside the store dir.
func (s *Store) inStore(p string) bool {
	return strings.HasPrefix(p, string(s.dir)+"/") && len(p) > len(s.dir)+1
}

type tempRoot struct{ path, from string }

// readTempRoots reads the temporary roots of live processes. A roots file
// whose lock we can take belongs to a dead process; it is removed and
// marked with "d" for a writer that opened it meanwhile.
func (s *Store) readTempRoots(censor bool) ([]tempRoot, error) {
	dir := filepath.Join(s.stateDir, "temproots")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read temporary roots: %w", err)
	}
	var out []tempRoot
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read temporary roots %s: %w", name, err)
		}
		// Our own file is locked through another descriptor, so it
		// reads as live like any other.
		if fsutil.Flock(f, fsutil.Exclusive, false) == nil {
			os.Remove(name)
			f.Write([]byte("d"))
			f.Close()
			continue
		}
		data, err := readAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read temporary roots %s: %w", name, err)
		}
		pid, _, _ := strings.Cut(e.Name(), "-")
		from := "{temp:" + pid + "}"
		if censor {
			from = censored
		}
		for _, p := range bytes.Split(data, []byte{0}) {
			if len(p) > 0 {
				out = append(out, tempRoot{string(p), from})
			}
		}
	}
	return out, nil
}

func readAll(f *os.File) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(f)
	return buf.Bytes(), err
}

// Compiled on first use, not in every cairn process's start-up.
var (
	mapLineRx = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(/\S+)\s*$`) })
	digitsRx  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]+$`) })
)

// findRuntimeRoots scans /proc for store paths used by running processes:
// their executables, working directories, open files, mapped files and
// environments, plus a few kernel helpers (Nix's findRuntimeRoots).
func (s *Store) findRuntimeRoots(ctx context.Context, roots Roots, censor bool) error {
	unchecked := map[string][]string{}
	storePathRx := regexp.MustCompile(regexp.QuoteMeta(string(s.dir)) + `/[0-9a-z]+[0-9a-zA-Z\+\-\._\?=]*`)
	link := func(file string) {
		if t, err := os.Readlink(file); err == nil && strings.HasPrefix(t, "/") {
			unchecked[t] = append(unchecked[t], file)
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		if !digitsRx().MatchString(e.Name()) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		pd := "/proc/" + e.Name()
		link(pd + "/exe")
		link(pd + "/cwd")
		if fds, err := os.ReadDir(pd + "/fd"); err == nil {
			for _, fd := range fds {
				link(pd + "/fd/" + fd.Name())
			}
		}
		if maps, err := os.ReadFile(pd + "/maps"); err == nil {
			for _, line := range strings.Split(string(maps), "\n") {
				if m := mapLineRx().FindStringSubmatch(line); m != nil {
					unchecked[m[1]] = append(unchecked[m[1]], pd+"/maps")
				}
			}
		}
		if env, err := os.ReadFile(pd + "/environ"); err == nil {
			for _, m := range storePathRx.FindAllString(string(env), -1) {
				unchecked[m] = append(unchecked[m], pd+"/environ")
			}
		}
	}
	for _, f := range []string{"/proc/sys/kernel/modprobe", "/proc/sys/kernel/fbsplash", "/proc/sys/kernel/poweroff_cmd"} {
		if b, err := os.ReadFile(f); err == nil {
			unchecked[string(b)] = append(unchecked[string(b)], f)
		}
	}
	for target, from := range unchecked {
		if !s.inStore(target) {
			continue
		}
		p, _, err := s.dir.ParseSub(target)
		if err != nil {
			continue
		}
		ok, err := s.IsValid(ctx, p)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if censor {
			roots.add(p, censored)
		} else {
			roots.addAll(p, from...)
		}
	}
	return nil
}

func (r Roots) addAll(p storepath.Path, from ...string) { r[p] = append(r[p], from...) }

// AddIndirectRoot registers link (an absolute path outside the store,
// typically a ./result symlink) as an indirect GC root:
// gcroots/auto/<nix32 sha1 of link> points at it.
func (s *Store) AddIndirectRoot(link string) error {
	h := nixhash.Sum(nixhash.SHA1, []byte(link))
	name := filepath.Join(s.stateDir, "gcroots", "auto", nixbase32.EncodeToString(h.Digest))
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("add indirect root %s: %w", link, err)
	}
	return fsutil.ReplaceSymlink(link, name)
}

// AddPermRoot makes gcRoot (an absolute path outside the store) a
// symlink to the valid path p and registers it as an indirect root, as
// nix-build does for ./result. An existing gcRoot that is not a symlink
// into the store is not clobbered.
func (s *Store) AddPermRoot(ctx context.Context, p storepath.Path, gcRoot string) error {
	gcRoot = filepath.Clean(gcRoot)
	if strings.HasPrefix(gcRoot, s.realStore+"/") || s.inStore(gcRoot) {
		return fmt.Errorf("creating a garbage collector root (%s) in the Nix store is forbidden", gcRoot)
	}
	if err := s.AddTempRoot(ctx, p); err != nil {
		return err
	}
	if fi, err := os.Lstat(gcRoot); err == nil {
		t, lerr := os.Readlink(gcRoot)
		if fi.Mode()&fs.ModeSymlink == 0 || lerr != nil || !s.inStore(t) {
			return fmt.Errorf("cannot create symlink '%s'; already exists", gcRoot)
		}
	}
	if err := os.MkdirAll(filepath.Dir(gcRoot), 0o755); err != nil {
		return fmt.Errorf("add root %s: %w", gcRoot, err)
	}
	if err := fsutil.ReplaceSymlink(s.print(p), gcRoot); err != nil {
		return err
	}
	return s.AddIndirectRoot(gcRoot)
}

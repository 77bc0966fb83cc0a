package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"cairn/internal/compat/nixbase32"
	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"golang.org/x/sys/unix"
)

// OptimiseStats counts what Optimise did.
type OptimiseStats struct {
	FilesLinked uint64
	BytesFreed  uint64 // sum of the sizes of the files replaced by links
	BlocksFreed uint64 // sum of their st_blocks
}

// Optimise hard-links identical files across the whole store, like
// nix-store --optimise: every regular file and symlink is hashed (sha256
// of its NAR, so the executable bit matters) and replaced by a hard link
// to .links/<nix32 hash>.
func (s *Store) Optimise(ctx context.Context) (*OptimiseStats, error) {
	paths, err := s.QueryValidPaths(ctx)
	if err != nil {
		return nil, err
	}
	o, err := s.newOptimiser(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.AddTempRoot(ctx, p); err != nil {
			return nil, err
		}
		if ok, err := s.IsValid(ctx, p); err != nil {
			return nil, err
		} else if !ok {
			continue // collected meanwhile
		}
		if err := o.path(s.RealPath(p)); err != nil {
			return nil, err
		}
	}
	return &o.stats, nil
}

// OptimisePath is Optimise for the one valid path p (Nix's
// auto-optimise-store after adding a path).
func (s *Store) OptimisePath(ctx context.Context, p storepath.Path) (*OptimiseStats, error) {
	o, err := s.newOptimiser(ctx)
	if err != nil {
		return nil, err
	}
	if err := o.path(s.RealPath(p)); err != nil {
		return nil, err
	}
	return &o.stats, nil
}

type optimiser struct {
	s      *Store
	tmp    *tempEntry // temporary links are named <tmp>-link-<n>
	n      int
	links  string
	inodes map[uint64]bool // inodes already in .links
	stats  OptimiseStats
}

func (s *Store) newOptimiser(ctx context.Context) (*optimiser, error) {
	tmp, err := s.newTempEntry(ctx)
	if err != nil {
		return nil, fmt.Errorf("optimise: %w", err)
	}
	o := &optimiser{s: s, tmp: tmp, links: filepath.Join(s.realStore, ".links"), inodes: map[uint64]bool{}}
	if err := os.MkdirAll(o.links, 0o755); err != nil {
		return nil, fmt.Errorf("optimise: %w", err)
	}
	ents, err := readDirInodes(o.links)
	if err != nil {
		return nil, fmt.Errorf("optimise: %w", err)
	}
	for _, e := range ents {
		o.inodes[e.ino] = true
	}
	return o, nil
}

type dirEnt struct {
	name string
	ino  uint64
}

func readDirInodes(dir string) ([]dirEnt, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	out := make([]dirEnt, 0, len(names))
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, n), &st); err != nil {
			continue
		}
		out = append(out, dirEnt{n, st.Ino})
	}
	return out, nil
}

func (o *optimiser) path(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fmt.Errorf("optimise %s: %w", path, err)
	}
	typ := st.Mode & unix.S_IFMT
	if typ == unix.S_IFDIR {
		ents, err := readDirInodes(path)
		if err != nil {
			return fmt.Errorf("optimise %s: %w", path, err)
		}
		for _, e := range ents {
			if o.inodes[e.ino] {
				continue // already linked
			}
			if err := o.path(filepath.Join(path, e.name)); err != nil {
				return err
			}
		}
		return nil
	}
	if typ != unix.S_IFREG && typ != unix.S_IFLNK {
		return nil
	}
	if typ == unix.S_IFREG && st.Mode&unix.S_IWUSR != 0 {
		return nil // a suspicious writable file: leave it alone, as Nix does
	}
	if st.Nlink > 1 && o.inodes[st.Ino] {
		return nil
	}
	h, _, _, err := HashPath(path, nil)
	if err != nil {
		return fmt.Errorf("optimise %s: %w", path, err)
	}
	link := filepath.Join(o.links, nixbase32.EncodeToString(h.Digest))
	var lst unix.Stat_t
	if err := unix.Lstat(link, &lst); err == nil && lst.Size != st.Size {
		os.Remove(link) // corrupted
	}
	if err := unix.Lstat(link, &lst); err != nil {
		err := unix.Link(path, link)
		if err == nil {
			o.inodes[st.Ino] = true
			return nil
		}
		if err == unix.ENOSPC {
			return nil
		}
		if err != unix.EEXIST {
			return fmt.Errorf("optimise: link %s to %s: %w", link, path, err)
		}
		if err := unix.Lstat(link, &lst); err != nil {
			return fmt.Errorf("optimise: %w", err)
		}
	}
	if lst.Ino == st.Ino {
		return nil
	}
	dir := filepath.Dir(path)
	if dir != o.s.realStore {
		if err := fsutil.MakeWritable(dir); err != nil {
			return err
		}
		defer fsutil.CanonicaliseTimestampAndPermissions(dir)
	}
	// The temporary link's name shares the hash part of our scratch
	// entry, so a concurrent collector leaves it alone.
	o.n++
	tmp := o.tmp.real + "-link-" + strconv.Itoa(o.n)
	if err := unix.Link(link, tmp); err != nil {
		if err == unix.EMLINK {
			return nil
		}
		return fmt.Errorf("optimise: link %s to %s: %w", tmp, link, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		if errors.Is(err, unix.EMLINK) {
			return nil
		}
		return fmt.Errorf("optimise: %w", err)
	}
	o.stats.FilesLinked++
	o.stats.BytesFreed += uint64(st.Size)
	o.stats.BlocksFreed += uint64(st.Blocks)
	return nil
}

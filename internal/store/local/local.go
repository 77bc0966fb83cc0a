// Package local implements a Nix store on the local file system: a store
// directory (/nix/store) plus the state directory (/nix/var/nix) holding
// the SQLite metadata database, GC roots, temporary roots and locks, in
// exactly the layout Nix 2.8 uses, so that Nix and cairn can work on the
// same store at the same time.
//
// A store may live under a root directory (Nix's local?root=): the
// logical store directory stays /nix/store (it is part of every path's
// hash), while files live at <root>/nix/store. Tests use this to touch
// nothing global.
//
// Crash safety: contents are written under a temporary name, made final
// and renamed into place before the database row is written, so a
// directory without a row is garbage (deleted by the next writer or the
// garbage collector) and a row always describes complete contents.
// Deletion runs the other way round: the row goes first, then the files.
package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store"
	"golang.org/x/sys/unix"
)

// Options configure Open. The zero value opens the system store.
type Options struct {
	// Root, if set, is prepended to the real locations of the store and
	// state directories (Nix's local?root=).
	Root string
	// StoreDir is the logical store directory; default /nix/store.
	StoreDir storepath.Dir
	// StateDir is the logical state directory; default /nix/var/nix.
	StateDir string
	// NoFsyncMetadata runs SQLite with synchronous=off (Nix's
	// fsync-metadata = false).
	NoFsyncMetadata bool
	// ReservedSize is the size of db/reserved, freed before a GC so a
	// full disk does not stop it; 0 means Nix's default of 8 MiB, < 0
	// means none.
	ReservedSize int64
	// IgnoredXattrs are kept by canonicalisation (nil: Nix's default).
	IgnoredXattrs []string
	// BuildUsersGroup, when running as root, makes the store directory
	// root:<group> with mode 1775, as Nix does for its build users
	// (Nix's default for root is "nixbld"). Empty leaves it alone.
	BuildUsersGroup string
	// AutoOptimise hard-links the files of every added path into .links
	// (Nix's auto-optimise-store).
	AutoOptimise bool
	// CADerivations creates the ca-derivations tables (Realisations,
	// RealisationsRefs; db/ca-schema version 3) if they are missing, as
	// Nix 2.8 does with the experimental feature ca-derivations.
	CADerivations bool
}

const defaultReservedSize = 8 << 20

// Store is a local Nix store. It is safe for concurrent use.
type Store struct {
	dir       storepath.Dir
	realStore string // real location of the store directory
	stateDir  string // real location of the state directory
	dbDir     string
	opts      Options
	db        *sql.DB
	stmts     stmtCache
	w         writer
	bigLock   *fsutil.LockedFile
	pending   pendingTexts // see AddTextDeferred

	mu        sync.Mutex // guards the temporary roots state below
	tempRoots *os.File   // temproots/<pid>, exclusively locked
	// tempRootsAdded are the roots written to tempRoots.
	tempRootsAdded map[storepath.Path]struct{}
	gcLock         *os.File
	rootsConn      net.Conn // connection to a running collector's gc-socket
}

var _ store.Store = (*Store)(nil)

// Open opens the store described by opts, creating the directory layout
// and the database (schema version 10) if they do not exist, as Nix does.
// It holds a shared lock on db/big-lock until Close. A database with a
// newer schema is refused.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.StoreDir == "" {
		opts.StoreDir = storepath.DefaultDir
	}
	if opts.StateDir == "" {
		opts.StateDir = "/nix/var/nix"
	}
	if opts.Root != "" {
		abs, err := filepath.Abs(opts.Root)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		opts.Root = abs
	}
	s := &Store{
		dir:       opts.StoreDir,
		realStore: filepath.Join(opts.Root, string(opts.StoreDir)),
		stateDir:  filepath.Join(opts.Root, opts.StateDir),
		opts:      opts,
	}
	if opts.Root == "" {
		s.realStore = string(opts.StoreDir)
		s.stateDir = opts.StateDir
	}
	s.dbDir = filepath.Join(s.stateDir, "db")
	if err := s.createDirs(); err != nil {
		return nil, fmt.Errorf("open store %s: %w", s.realStore, err)
	}
	if err := s.openDB(ctx); err != nil {
		if s.bigLock != nil {
			s.bigLock.Close()
		}
		return nil, fmt.Errorf("open store %s: %w", s.realStore, err)
	}
	return s, nil
}

func (s *Store) createDirs() error {
	for _, d := range []string{
		s.realStore, filepath.Join(s.realStore, ".links"),
		filepath.Join(s.stateDir, "profiles"), filepath.Join(s.stateDir, "temproots"), s.dbDir,
	} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if s.opts.BuildUsersGroup != "" && os.Getuid() == 0 {
		g, err := user.LookupGroup(s.opts.BuildUsersGroup)
		if err != nil {
			return fmt.Errorf("the group '%s' given as the build users group does not exist: %w", s.opts.BuildUsersGroup, err)
		}
		gid, _ := strconv.Atoi(g.Gid)
		fi, err := os.Stat(s.realStore)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 0 || int(st.Gid) != gid || fi.Mode()&(os.ModePerm|os.ModeSticky) != os.ModeSticky|0o775 {
			if err := os.Chown(s.realStore, 0, gid); err != nil {
				return err
			}
			if err := os.Chmod(s.realStore, os.ModeSticky|0o775); err != nil {
				return err
			}
		}
	}
	gcroots := filepath.Join(s.stateDir, "gcroots")
	if _, err := os.Lstat(gcroots); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(gcroots, 0o755); err != nil {
			return err
		}
		// Another process may be initialising the same store right now:
		// its link is as good as ours.
		err := os.Symlink(filepath.Join(s.stateDir, "profiles"), filepath.Join(gcroots, "profiles"))
		if err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	for _, d := range []string{filepath.Join(s.stateDir, "profiles", "per-user"), filepath.Join(gcroots, "per-user")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	// Per-user directories, as Nix's createUser.
	if u, err := user.Current(); err == nil {
		for _, d := range []string{filepath.Join(s.stateDir, "profiles", "per-user", u.Username), filepath.Join(gcroots, "per-user", u.Username)} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			os.Chmod(d, 0o755)
			os.Chown(d, os.Getuid(), os.Getgid())
		}
	}
	// Space reserved for the garbage collector (errors do not matter,
	// as in Nix).
	if size := s.reservedSize(); size > 0 {
		reserved := filepath.Join(s.dbDir, "reserved")
		if fi, err := os.Stat(reserved); err != nil || fi.Size() != size {
			if f, err := os.OpenFile(reserved, os.O_WRONLY|os.O_CREATE, 0o600); err == nil {
				// Allocate real blocks (a sparse file would reserve
				// nothing); fall back to a plain size change.
				if unix.Fallocate(int(f.Fd()), 0, 0, size) != nil {
					f.Truncate(size)
				}
				f.Close()
			}
		}
	}
	return nil
}

func (s *Store) reservedSize() int64 {
	switch {
	case s.opts.ReservedSize == 0:
		return defaultReservedSize
	case s.opts.ReservedSize < 0:
		return 0
	}
	return s.opts.ReservedSize
}

// readSchema returns the version in db/schema, 0 if there is none.
func (s *Store) readSchema() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.dbDir, "schema"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s is corrupt", filepath.Join(s.dbDir, "schema"))
	}
	return n, nil
}

func (s *Store) openDB(ctx context.Context) error {
	var err error
	s.bigLock, err = fsutil.OpenLocked(filepath.Join(s.dbDir, "big-lock"), os.O_RDWR|os.O_CREATE, 0o600, fsutil.Shared)
	if err != nil {
		return err
	}
	v, err := s.readSchema()
	if err != nil {
		return err
	}
	switch {
	case v > SchemaVersion:
		return fmt.Errorf("current Nix store schema is version %d, but I only support %d", v, SchemaVersion)
	case v > 0 && v < SchemaVersion:
		return fmt.Errorf("the Nix store schema is version %d; upgrade it to version %d with Nix first", v, SchemaVersion)
	}
	create := v == 0
	s.db, err = openDB(ctx, filepath.Join(s.dbDir, "db.sqlite"), create, !s.opts.NoFsyncMetadata)
	if err != nil {
		return err
	}
	if create {
		// Nix writes the version with no newline.
		if err := fsutil.WriteFile(filepath.Join(s.dbDir, "schema"), []byte(strconv.Itoa(SchemaVersion)), 0o644); err != nil {
			s.db.Close()
			return err
		}
	}
	if s.opts.CADerivations {
		if err := s.migrateCASchema(ctx); err != nil {
			s.db.Close()
			return err
		}
	}
	return nil
}

// migrateCASchema creates the ca-derivations tables under the exclusive
// big lock, as Nix 2.8's migrateCASchema does for a store without them.
// Versions 1 and 2 (from Nix 2.4 pre-releases) are left to Nix to
// upgrade.
func (s *Store) migrateCASchema(ctx context.Context) error {
	file := filepath.Join(s.dbDir, "ca-schema")
	read := func() (int, error) {
		b, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(strings.TrimSpace(string(b)))
	}
	v, err := read()
	if err != nil || v == CASchemaVersion {
		return err
	}
	if v > CASchemaVersion || v != 0 {
		return fmt.Errorf("the Nix store ca-schema is version %d; this needs version %d (upgrade it with Nix)", v, CASchemaVersion)
	}
	if err := flockCtx(ctx, s.bigLock.File, fsutil.Exclusive); err != nil {
		return err
	}
	defer fsutil.Flock(s.bigLock.File, fsutil.Shared, true)
	if v, err = read(); err != nil || v == CASchemaVersion {
		return err // someone else created them meanwhile
	}
	if _, err := s.db.ExecContext(ctx, caSchemaSQL); err != nil {
		return fmt.Errorf("create ca-derivations tables: %w", err)
	}
	return fsutil.WriteFile(file, []byte(strconv.Itoa(CASchemaVersion)), 0o644)
}

// Close releases the database, the temporary roots (paths protected by
// this Store become collectable) and the big lock.
func (s *Store) Close() error { return s.close(true) }

// CloseForExit is Close for a process that exits next: it leaves the
// database's connection to the exit. When its last connection closes,
// SQLite checkpoints the write-ahead log into the database file, which
// costs two fsyncs (18 ms of a 0.7 s build of 500 derivations on ext4,
// most of the time cairn took to finish). Exiting without it leaves the
// log as a crash does: every transaction is in it, and the next writer
// whose commit takes the log past 1000 pages, or the next Close,
// checkpoints it. What a power cut right after the exit can lose is the
// last transactions, as after a crash: the database stays consistent,
// and their paths are not valid. Everything else goes as in Close.
func (s *Store) CloseForExit() error { return s.close(false) }

func (s *Store) close(db bool) error {
	serr := s.Sync(context.Background())
	s.w.close()
	s.stmts.close()
	var err error
	if db {
		err = s.db.Close()
	}
	s.mu.Lock()
	if s.tempRoots != nil {
		os.Remove(s.tempRoots.Name())
		s.tempRoots.Close()
		s.tempRoots = nil
		s.tempRootsAdded = nil
	}
	if s.gcLock != nil {
		s.gcLock.Close()
		s.gcLock = nil
	}
	if s.rootsConn != nil {
		s.rootsConn.Close()
		s.rootsConn = nil
	}
	s.mu.Unlock()
	if lerr := s.bigLock.Close(); err == nil {
		err = lerr
	}
	if serr != nil {
		return serr
	}
	return err
}

// Dir returns the logical store directory.
func (s *Store) Dir() storepath.Dir { return s.dir }

// RealStoreDir returns where the store directory really is.
func (s *Store) RealStoreDir() string { return s.realStore }

// StateDir returns where the state directory (/nix/var/nix) really is.
func (s *Store) StateDir() string { return s.stateDir }

// RealPath returns the real location of p's contents.
func (s *Store) RealPath(p storepath.Path) string { return filepath.Join(s.realStore, p.Base()) }

// ParsePath parses an absolute path in the store directory.
func (s *Store) ParsePath(abs string) (storepath.Path, error) { return s.dir.Parse(abs) }

func (s *Store) print(p storepath.Path) string { return s.dir.Print(p) }

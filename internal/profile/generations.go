package profile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
)

// Generation is one numbered version of a profile.
type Generation struct {
	Number uint64
	// Link is the absolute path of the generation link
	// (<profile>-<N>-link).
	Link string
	// Created is the modification time of the link itself.
	Created time.Time
}

// ErrNoGeneration is matched by errors about a generation that does not
// exist (switching to it, or rolling back past the oldest).
var ErrNoGeneration = errors.New("no such generation")

type noGenError struct{ msg string }

func (e *noGenError) Error() string        { return e.msg }
func (e *noGenError) Is(target error) bool { return target == ErrNoGeneration }

// parseName parses a generation link name "<profileName>-<N>-link" as
// Nix 2.8 does: the number runs up to the first "-link" and must parse
// as an unsigned 32-bit decimal.
func parseName(profileName, name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, profileName+"-")
	if !ok {
		return 0, false
	}
	i := strings.Index(s, "-link")
	if i < 0 {
		return 0, false
	}
	num := s[:i]
	if num == "" || num[0] == '+' || num[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil {
		return 0, false
	}
	return n, true
}

// LinkName returns the path of generation n of profile.
func LinkName(profile string, n uint64) string {
	return profile + "-" + strconv.FormatUint(n, 10) + "-link"
}

// Generations lists the generations of profile (an absolute path) in
// increasing order, and the current one (0 if the profile link does not
// exist or does not name a generation), as Nix's findGenerations.
func Generations(profile string) (gens []Generation, current uint64, err error) {
	dir, name := filepath.Split(profile)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, nil
		}
		return nil, 0, fmt.Errorf("list generations of %s: %w", profile, err)
	}
	for _, e := range ents {
		n, ok := parseName(name, e.Name())
		if !ok {
			continue
		}
		link := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(link)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted meanwhile
			}
			return nil, 0, fmt.Errorf("list generations of %s: %w", profile, err)
		}
		gens = append(gens, Generation{Number: n, Link: link, Created: fi.ModTime()})
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i].Number < gens[j].Number })
	if t, err := os.Readlink(profile); err == nil {
		current, _ = parseName(name, t)
	}
	return gens, current, nil
}

// Lock is an exclusive lock on a profile (Nix's lockProfile): an flock
// on <profile>.lock, deleted when released.
type Lock struct {
	f    *os.File
	name string
}

// LockProfile waits (as long as ctx allows) for the exclusive lock on
// profile. Like Nix's PathLocks it retries when the file it locked was
// deleted by the previous holder meanwhile (such a file has a non-zero
// size).
func LockProfile(ctx context.Context, profile string) (*Lock, error) {
	name := profile + ".lock"
	if err := os.MkdirAll(filepath.Dir(profile), 0o755); err != nil {
		return nil, fmt.Errorf("lock profile %s: %w", profile, err)
	}
	for {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock profile %s: %w", profile, err)
		}
		if err := flockCtx(ctx, f); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock profile %s: %w", profile, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock profile %s: %w", profile, err)
		}
		if fi.Size() == 0 {
			return &Lock{f: f, name: name}, nil
		}
		f.Close() // stale: its holder deleted it after we opened it
	}
}

// flockCtx waits for an exclusive flock on f, polling so that ctx can
// cancel the wait.
func flockCtx(ctx context.Context, f *os.File) error {
	delay := time.Millisecond
	for {
		err := fsutil.Flock(f, fsutil.Exclusive, false)
		if err == nil || !errors.Is(err, fsutil.ErrWouldBlock) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for lock on profile: %w", ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// Unlock deletes the lock file and releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := os.Remove(l.name)
	if err == nil {
		// Mark the unlinked inode stale for anyone who opened it
		// before the unlink and is waiting for the lock.
		_, err = l.f.Write([]byte("d"))
	} else if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	cerr := l.f.Close()
	l.f = nil
	if err = errors.Join(err, cerr); err != nil {
		return fmt.Errorf("unlock profile: %w", err)
	}
	return nil
}

// Rooter registers GC roots; *local.Store implements it.
type Rooter interface {
	Dir() storepath.Dir
	// AddPermRoot makes gcRoot a symlink to the valid path p, written
	// atomically, and registers it as an indirect root.
	AddPermRoot(ctx context.Context, p storepath.Path, gcRoot string) error
}

// CreateGeneration makes a new generation of profile pointing at the
// store path target and returns its link, as Nix's
// createGeneration: if the newest generation already points at target,
// it is returned and nothing is created. The link is written atomically
// and made a GC root through root. The caller should hold the profile
// lock; the profile link itself is not changed (see SwitchLink).
func CreateGeneration(ctx context.Context, root Rooter, profile string, target storepath.Path) (string, error) {
	gens, _, err := Generations(profile)
	if err != nil {
		return "", err
	}
	var num uint64
	if len(gens) > 0 {
		last := gens[len(gens)-1]
		if t, err := os.Readlink(last.Link); err == nil && t == root.Dir().Print(target) {
			return last.Link, nil
		}
		num = last.Number
	}
	if err := os.MkdirAll(filepath.Dir(profile), 0o755); err != nil {
		return "", fmt.Errorf("create generation of %s: %w", profile, err)
	}
	link := LinkName(profile, num+1)
	if err := root.AddPermRoot(ctx, target, link); err != nil {
		return "", fmt.Errorf("create generation of %s: %w", profile, err)
	}
	return link, nil
}

// SwitchLink points link at target atomically (temporary link plus
// rename, then an fsync of the directory). A target in the same
// directory as link is written as its base name, as Nix's switchLink.
func SwitchLink(link, target string) error {
	if filepath.Dir(target) == filepath.Dir(link) {
		target = filepath.Base(target)
	}
	if err := fsutil.ReplaceSymlink(target, link); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(link))
}

// Switch makes generation dst of profile current. With dst 0 it rolls
// back: the highest generation below the current one becomes current.
// It returns the previous and new generation numbers. With dryRun it
// only reports them. The caller should hold the profile lock.
func Switch(profile string, dst uint64, dryRun bool) (from, to uint64, err error) {
	gens, cur, err := Generations(profile)
	if err != nil {
		return 0, 0, err
	}
	var found *Generation
	for i := range gens {
		g := &gens[i]
		if (dst == 0 && g.Number < cur) || (dst != 0 && g.Number == dst) {
			found = g
		}
	}
	if found == nil {
		if dst != 0 {
			return cur, 0, &noGenError{fmt.Sprintf("profile version %d does not exist", dst)}
		}
		return cur, 0, &noGenError{fmt.Sprintf("no profile version older than the current (%d) exists", cur)}
	}
	if dryRun {
		return cur, found.Number, nil
	}
	if err := SwitchLink(profile, found.Link); err != nil {
		return cur, 0, fmt.Errorf("switch profile %s: %w", profile, err)
	}
	return cur, found.Number, nil
}

// ErrCurrentGeneration is matched by an attempt to delete the current
// generation.
var ErrCurrentGeneration = errors.New("cannot delete the current generation")

// DeleteGenerations removes the generations in nums (those that exist)
// and returns the numbers removed, in increasing order; deleting the
// current generation is an error (Nix 2.8: "cannot delete current
// version of profile"). With dryRun nothing is removed.
func DeleteGenerations(profile string, nums []uint64, dryRun bool) ([]uint64, error) {
	gens, cur, err := Generations(profile)
	if err != nil {
		return nil, err
	}
	want := map[uint64]bool{}
	for _, n := range nums {
		want[n] = true
	}
	if want[cur] {
		return nil, fmt.Errorf("cannot delete current version of profile %s': %w", profile, ErrCurrentGeneration)
	}
	var del []uint64
	for _, g := range gens {
		if want[g.Number] {
			del = append(del, g.Number)
		}
	}
	return del, remove(profile, del, dryRun)
}

// DeleteOldGenerations removes every generation but the current one
// (wipe-history without --older-than).
func DeleteOldGenerations(profile string, dryRun bool) ([]uint64, error) {
	gens, cur, err := Generations(profile)
	if err != nil {
		return nil, err
	}
	var del []uint64
	for _, g := range gens {
		if g.Number != cur {
			del = append(del, g.Number)
		}
	}
	return del, remove(profile, del, dryRun)
}

// DeleteGenerationsOlderThan removes the generations created before t,
// except the current one and the newest of them (the one that was
// current at time t), as Nix's deleteGenerationsOlderThan.
func DeleteGenerationsOlderThan(profile string, t time.Time, dryRun bool) ([]uint64, error) {
	gens, cur, err := Generations(profile)
	if err != nil {
		return nil, err
	}
	var del []uint64
	canDelete := false
	for i := len(gens) - 1; i >= 0; i-- {
		g := gens[i]
		if canDelete {
			if g.Number != cur {
				del = append(del, g.Number)
			}
		} else if g.Created.Before(t) {
			canDelete = true
		}
	}
	sort.Slice(del, func(i, j int) bool { return del[i] < del[j] })
	return del, remove(profile, del, dryRun)
}

// ParseOlderThan parses Nix's "<N>d" age and returns now minus N days.
func ParseOlderThan(spec string, now time.Time) (time.Time, error) {
	days, ok := strings.CutSuffix(spec, "d")
	if !ok || spec == "" {
		return time.Time{}, fmt.Errorf("invalid number of days specifier '%s', expected something like '14d'", spec)
	}
	n, err := strconv.ParseInt(days, 10, 32)
	if err != nil || n < 1 {
		return time.Time{}, fmt.Errorf("invalid number of days specifier '%s'", spec)
	}
	return now.Add(-time.Duration(n) * 24 * time.Hour), nil
}

func remove(profile string, nums []uint64, dryRun bool) error {
	if dryRun {
		return nil
	}
	for _, n := range nums {
		if err := os.Remove(LinkName(profile, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot unlink '%s': %w", LinkName(profile, n), err)
		}
	}
	if len(nums) > 0 {
		return fsutil.SyncDir(filepath.Dir(profile))
	}
	return nil
}

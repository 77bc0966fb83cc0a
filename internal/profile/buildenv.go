package profile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Package is one input of BuildEnv.
type Package struct {
	// Path is the absolute (logical) path of the package, normally a
	// store path; links in the environment point below it.
	Path string
	// Active packages are linked; inactive ones are skipped.
	Active bool
	// Priority: lower wins a file collision (Nix's meta.priority;
	// default 5).
	Priority int
}

// DefaultPriority is the priority of packages without meta.priority.
const DefaultPriority = 5

// EnvOptions control BuildEnv.
type EnvOptions struct {
	// Real maps a logical path (as written in links) to where it can be
	// read on this machine, for stores under a root directory; nil means
	// the identity.
	Real func(logical string) string
	// IgnoreCollisions keeps the first of two files of equal priority
	// and reports the collision in Result.Collisions instead of failing,
	// like nixpkgs' buildEnv { ignoreCollisions = true; }. Nix's
	// builtin:buildenv always fails.
	IgnoreCollisions bool
}

// EnvResult describes a built environment.
type EnvResult struct {
	Symlinks int
	// Collisions ignored under IgnoreCollisions, as CollisionErrors.
	Collisions []*CollisionError
	// Warnings are Nix's non-fatal messages (dangling symlinks, packages
	// that are not directories).
	Warnings []string
}

// CollisionError reports two packages providing the same file with the
// same priority. Its message is Nix 2.8's.
type CollisionError struct {
	File     string // the file of the package being added
	Existing string // the file already linked (from the other package)
	Priority int
}

func (e *CollisionError) Error() string {
	return fmt.Sprintf("packages '%s' and '%s' have the same priority %d; "+
		"use 'nix-env --set-flag priority NUMBER INSTALLED_PKGNAME' "+
		"to change the priority of one of the conflicting packages"+
		" (0 being the highest priority)", e.File, e.Existing, e.Priority)
}

type envState struct {
	opts       EnvOptions
	priorities map[string]int // by destination file
	res        *EnvResult
}

func (st *envState) real(p string) string {
	if st.opts.Real == nil {
		return p
	}
	return st.opts.Real(p)
}

// BuildEnv creates in the directory out (which must exist; a real path)
// the symlink forest of pkgs, as Nix's builtin:buildenv (buildProfile):
// active packages are processed by increasing priority then path; each
// file becomes a symlink to the package's file, directories present in
// several packages become real directories (mode 0755) merged
// recursively, a file collision is won by the lower priority and is an
// error (*CollisionError) at equal priority. Names starting with '.' and
// propagated-build-inputs, nix-support, perllocal.pod, info/dir, log,
// manifest.nix and manifest.json are left out. Packages listed in a
// package's nix-support/propagated-user-env-packages are added
// afterwards with priorities 1000, 1001, … in path order.
func BuildEnv(out string, pkgs []Package, opts EnvOptions) (*EnvResult, error) {
	st := &envState{opts: opts, priorities: map[string]int{}, res: &EnvResult{}}
	done := map[string]bool{}
	postponed := map[string]bool{}
	addPkg := func(dir string, prio int) error {
		if done[dir] {
			return nil
		}
		done[dir] = true
		if err := st.createLinks(dir, out, out, prio); err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(st.real(dir), "nix-support", "propagated-user-env-packages"))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
				return nil
			}
			return fmt.Errorf("build environment: %w", err)
		}
		for _, p := range strings.FieldsFunc(string(b), func(r rune) bool { return r == ' ' || r == '\n' }) {
			if !done[p] {
				postponed[p] = true
			}
		}
		return nil
	}
	sorted := append([]Package(nil), pkgs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		return a.Priority < b.Priority || (a.Priority == b.Priority && a.Path < b.Path)
	})
	for _, p := range sorted {
		if p.Active {
			if err := addPkg(p.Path, p.Priority); err != nil {
				return nil, err
			}
		}
	}
	counter := 1000
	for len(postponed) > 0 {
		dirs := make([]string, 0, len(postponed))
		for d := range postponed {
			dirs = append(dirs, d)
		}
		sort.Strings(dirs)
		postponed = map[string]bool{}
		for _, d := range dirs {
			if err := addPkg(d, counter); err != nil {
				return nil, err
			}
			counter++
		}
	}
	return st.res, nil
}

func isNotDir(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory")
}

var skipSuffixes = []string{"/propagated-build-inputs", "/nix-support", "/perllocal.pod", "/info/dir", "/log", "/manifest.nix", "/manifest.json"}

// createLinks links the entries of srcDir (logical) into dstDir (real);
// out is the environment's root, so that messages can name dstDir's
// entries.
func (st *envState) createLinks(srcDir, dstDir, out string, prio int) error {
	ents, err := os.ReadDir(st.real(srcDir))
	if err != nil {
		if isNotDir(err) {
			st.res.Warnings = append(st.res.Warnings, fmt.Sprintf("not including '%s' in the user environment because it's not a directory", srcDir))
			return nil
		}
		return fmt.Errorf("build environment: %w", err)
	}
	for _, ent := range ents { // ReadDir sorts by name
		name := ent.Name()
		if name[0] == '.' {
			continue
		}
		srcFile := srcDir + "/" + name
		dstFile := dstDir + "/" + name
		srcInfo, err := os.Stat(st.real(srcFile))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
				st.res.Warnings = append(st.res.Warnings, fmt.Sprintf("skipping dangling symlink '%s'", dstFile))
				continue
			}
			return fmt.Errorf("build environment: getting status of '%s': %w", srcFile, err)
		}
		skip := false
		for _, s := range skipSuffixes {
			if strings.HasSuffix(srcFile, s) {
				skip = true
			}
		}
		if skip {
			continue
		}
		dstInfo, derr := os.Lstat(dstFile)
		if derr != nil && !errors.Is(derr, fs.ErrNotExist) {
			return fmt.Errorf("build environment: getting status of '%s': %w", dstFile, derr)
		}
		if srcInfo.IsDir() {
			if derr == nil {
				switch {
				case dstInfo.IsDir():
					if err := st.createLinks(srcFile, dstFile, out, prio); err != nil {
						return err
					}
					continue
				case dstInfo.Mode()&fs.ModeSymlink != 0:
					target, err := st.resolve(dstFile)
					if err != nil {
						return err
					}
					ti, err := os.Lstat(st.real(target))
					if err != nil || !ti.IsDir() {
						return fmt.Errorf("collision between '%s' and non-directory '%s'", srcFile, target)
					}
					if err := os.Remove(dstFile); err != nil {
						return fmt.Errorf("build environment: unlinking '%s': %w", dstFile, err)
					}
					if err := os.Mkdir(dstFile, 0o755); err != nil {
						return fmt.Errorf("build environment: creating directory '%s': %w", dstFile, err)
					}
					if err := st.createLinks(target, dstFile, out, st.priorities[dstFile]); err != nil {
						return err
					}
					if err := st.createLinks(srcFile, dstFile, out, prio); err != nil {
						return err
					}
					continue
				}
			}
		} else if derr == nil {
			switch {
			case dstInfo.Mode()&fs.ModeSymlink != 0:
				prev := st.priorities[dstFile]
				if prev == prio {
					existing, _ := os.Readlink(dstFile)
					ce := &CollisionError{File: srcFile, Existing: existing, Priority: prio}
					if !st.opts.IgnoreCollisions {
						return ce
					}
					st.res.Collisions = append(st.res.Collisions, ce)
					continue
				}
				if prev < prio {
					continue
				}
				if err := os.Remove(dstFile); err != nil {
					return fmt.Errorf("build environment: unlinking '%s': %w", dstFile, err)
				}
			case dstInfo.IsDir():
				return fmt.Errorf("collision between non-directory '%s' and directory '%s'", srcFile, dstFile)
			}
		}
		if err := os.Symlink(srcFile, dstFile); err != nil {
			return fmt.Errorf("build environment: %w", err)
		}
		st.priorities[dstFile] = prio
		st.res.Symlinks++
	}
	return nil
}

// resolve follows the symlink link (real) and any symlinks its logical
// target leads to, returning the final logical path (Nix's canonPath
// with symlink resolution, for the common case of links to the last
// component).
func (st *envState) resolve(link string) (string, error) {
	t, err := os.Readlink(link)
	if err != nil {
		return "", fmt.Errorf("build environment: %w", err)
	}
	for range 40 {
		t2, err := os.Readlink(st.real(t))
		if err != nil {
			return filepath.Clean(t), nil // not a symlink (or missing)
		}
		if !filepath.IsAbs(t2) {
			t2 = filepath.Join(filepath.Dir(t), t2)
		}
		t = t2
	}
	return "", fmt.Errorf("build environment: too many levels of symbolic links at '%s'", link)
}

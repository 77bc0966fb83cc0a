package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// GitRequest is a builtins.fetchGit input.
type GitRequest struct {
	URL string // file://, a local path, or any URL git can fetch
	Ref string // branch, tag or refs/...; "" : HEAD's branch (local) or "master"
	Rev string // 40 hex digits; "" : the commit Ref names
}

// GitTree is an exported Git tree.
type GitTree struct {
	Dir          string // the tree, under the caller's temporary directory
	Rev          string // "" for a dirty working tree
	RevCount     int64
	LastModified int64 // commit time (Unix); the HEAD commit's for a dirty tree
	Dirty        bool  // the uncommitted working tree of a local repository
}

// Git exports the tree req names into a new directory under tmp, as Nix
// 2.8's fetchGit does: a local non-bare repository without Ref and Rev
// whose working tree differs from HEAD gives its tracked files (Dirty);
// otherwise the commit is exported with git archive. It runs the git
// program.
func Git(ctx context.Context, req GitRequest, tmp string) (*GitTree, error) {
	repo, local := localRepo(req.URL)
	if local && req.Ref == "" && req.Rev == "" {
		haveCommits := hasCommits(ctx, repo)
		clean := false
		if haveCommits {
			_, err := git(ctx, repo, "diff-index", "--quiet", "HEAD", "--")
			var ee *exec.ExitError
			switch {
			case err == nil:
				clean = true
			case errors.As(err, &ee) && ee.ExitCode() == 1:
			default:
				return nil, err
			}
		}
		if !clean {
			return dirtyTree(ctx, repo, tmp, haveCommits)
		}
	}
	if !local {
		// Fetch into a scratch bare repository.
		scratch := filepath.Join(tmp, "repo.git")
		if _, err := git(ctx, "", "init", "--quiet", "--bare", scratch); err != nil {
			return nil, err
		}
		ref := req.Ref
		if ref == "" {
			ref = "master"
		}
		fetchRef := ref
		if !strings.HasPrefix(ref, "refs/") && ref != "HEAD" {
			fetchRef = "refs/heads/" + ref
		}
		if _, err := git(ctx, scratch, "fetch", "--quiet", "--force", "--", req.URL, "+"+fetchRef+":"+fetchRef); err != nil {
			return nil, fmt.Errorf("fetching Git repository '%s': %w", req.URL, err)
		}
		repo, req.Ref = scratch, fetchRef
	}
	ref := req.Ref
	if ref == "" {
		ref = "HEAD"
	}
	rev := req.Rev
	if rev == "" {
		out, err := git(ctx, repo, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
		if err != nil {
			return nil, fmt.Errorf("resolving Git reference '%s' in repository '%s': %w", ref, req.URL, err)
		}
		rev = strings.TrimSpace(out)
	} else if _, err := git(ctx, repo, "cat-file", "-e", rev+"^{commit}"); err != nil {
		return nil, fmt.Errorf("cannot find Git revision '%s' in ref '%s' of repository '%s'", rev, ref, req.URL)
	}
	t := &GitTree{Rev: rev}
	out, err := git(ctx, repo, "rev-list", "--count", rev)
	if err != nil {
		return nil, err
	}
	if t.RevCount, err = strconv.ParseInt(strings.TrimSpace(out), 10, 64); err != nil {
		return nil, fmt.Errorf("git rev-list --count: %w", err)
	}
	if t.LastModified, err = commitTime(ctx, repo, rev); err != nil {
		return nil, err
	}
	archive := filepath.Join(tmp, "archive.tar")
	cmd := exec.CommandContext(ctx, "git", "-C", repo, "archive", "--format=tar", rev)
	f, err := os.Create(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = f, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("git archive %s: %w: %s", rev, err, strings.TrimSpace(stderr.String()))
	}
	t.Dir = filepath.Join(tmp, "tree")
	if err := os.Mkdir(t.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := Unpack(f, t.Dir); err != nil {
		return nil, err
	}
	return t, nil
}

// localRepo returns the directory of a local non-bare repository URL.
func localRepo(u string) (string, bool) {
	p := u
	if strings.Contains(u, "://") {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "file" {
			return "", false
		}
		p = pu.Path
	}
	if fi, err := os.Stat(filepath.Join(p, ".git")); err == nil && (fi.IsDir() || fi.Mode().IsRegular()) {
		return p, true
	}
	return "", false
}

func hasCommits(ctx context.Context, repo string) bool {
	_, err := git(ctx, repo, "rev-parse", "--verify", "--quiet", "HEAD")
	return err == nil
}

func commitTime(ctx context.Context, repo, rev string) (int64, error) {
	out, err := git(ctx, repo, "log", "-1", "--format=%ct", "--no-show-signature", rev)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(out), 10, 64)
}

// dirtyTree copies the tracked files of repo's working tree.
func dirtyTree(ctx context.Context, repo, tmp string, haveCommits bool) (*GitTree, error) {
	out, err := git(ctx, repo, "ls-files", "-z")
	if err != nil {
		return nil, err
	}
	t := &GitTree{Dir: filepath.Join(tmp, "tree"), Dirty: true}
	if err := os.Mkdir(t.Dir, 0o755); err != nil {
		return nil, err
	}
	for _, name := range strings.Split(out, "\x00") {
		if name == "" {
			continue
		}
		if err := copyEntry(filepath.Join(repo, name), filepath.Join(t.Dir, name)); err != nil {
			return nil, err
		}
	}
	if haveCommits {
		if t.LastModified, err = commitTime(ctx, repo, "HEAD"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// copyEntry copies a file or symlink (a deleted tracked file is skipped;
// a submodule directory is copied as an empty directory).
func copyEntry(src, dst string) error {
	fi, err := os.Lstat(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := mkParent(dst); err != nil {
		return err
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		l, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(l, dst)
	case fi.IsDir():
		return os.MkdirAll(dst, 0o755)
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeFile(dst, f, fi.Mode())
}

// git runs git -C dir args... and returns its standard output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	op := args[0]
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("git %s: %w: %s", op, err, msg)
		}
		return "", fmt.Errorf("git %s: %w", op, err)
	}
	return stdout.String(), nil
}

package local

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

// IsValid reports whether p is registered in the database.
func (s *Store) IsValid(ctx context.Context, p storepath.Path) (bool, error) {
	var one int
	err := s.read(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, "select 1 from ValidPaths where path = ?", s.print(p)).Scan(&one)
	})
	if err == nil {
		return true, nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return false, fmt.Errorf("query validity of %s: %w", s.print(p), err)
}

// QueryPathInfo returns the metadata of the valid path p.
func (s *Store) QueryPathInfo(ctx context.Context, p storepath.Path) (*store.PathInfo, error) {
	var r *dbRow
	var refs []string
	err := s.read(ctx, func(q querier) error {
		var err error
		if r, err = queryRow(ctx, q, s.print(p)); err != nil || r == nil {
			return err
		}
		if refs, err = queryReferences(ctx, q, r.id); err != nil {
			return fmt.Errorf("query references of %s: %w", s.print(p), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, &store.NotValidError{Path: s.print(p)}
	}
	return s.rowToInfo(p, r, refs)
}

func (s *Store) rowToInfo(p storepath.Path, r *dbRow, refs []string) (*store.PathInfo, error) {
	info := &store.PathInfo{
		Path:             p,
		RegistrationTime: time.Unix(r.registrationTime, 0),
		Ultimate:         r.ultimate.Valid && r.ultimate.Int64 != 0,
	}
	var err error
	if info.NarHash, err = nixhash.Parse(r.hash); err != nil {
		return nil, fmt.Errorf("query path info %s: bad hash in database: %w", s.print(p), err)
	}
	if r.narSize.Valid {
		info.NarSize = uint64(r.narSize.Int64)
	}
	if r.deriver.Valid && r.deriver.String != "" {
		if info.Deriver, err = s.dir.Parse(r.deriver.String); err != nil {
			return nil, fmt.Errorf("query path info %s: bad deriver in database: %w", s.print(p), err)
		}
	}
	if r.sigs.Valid {
		info.Signatures = strings.Fields(r.sigs.String)
	}
	if r.ca.Valid && r.ca.String != "" {
		if info.CA, err = storepath.ParseContentAddress(r.ca.String); err != nil {
			return nil, fmt.Errorf("query path info %s: bad ca in database: %w", s.print(p), err)
		}
	}
	if info.References, err = s.parsePaths(refs); err != nil {
		return nil, fmt.Errorf("query path info %s: %w", s.print(p), err)
	}
	return info, nil
}

func (s *Store) parsePaths(abs []string) ([]storepath.Path, error) {
	out := make([]storepath.Path, 0, len(abs))
	for _, a := range abs {
		p, err := s.dir.Parse(a)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return store.SortPaths(out), nil
}

// QueryReferences returns the references of the valid path p, sorted.
func (s *Store) QueryReferences(ctx context.Context, p storepath.Path) ([]storepath.Path, error) {
	info, err := s.QueryPathInfo(ctx, p)
	if err != nil {
		return nil, err
	}
	return info.References, nil
}

// QueryReferrers returns the valid paths that refer to p (p itself if
// it refers to itself), sorted. An invalid p has no referrers.
func (s *Store) QueryReferrers(ctx context.Context, p storepath.Path) ([]storepath.Path, error) {
	q, err := s.pool(ctx)
	if err != nil {
		return nil, err
	}
	refs, err := queryReferrers(ctx, q, s.print(p))
	if err != nil {
		return nil, fmt.Errorf("query referrers of %s: %w", s.print(p), err)
	}
	return s.parsePaths(refs)
}

// QueryClosure returns the closure of roots over references, roots
// included, sorted (store.ClosureQuerier): one query, where a walk asks
// for each path's references in turn (a derivation with 500 inputs, 500
// queries). A root that is not valid is a NotValidError.
func (s *Store) QueryClosure(ctx context.Context, roots []storepath.Path) ([]storepath.Path, error) {
	abs := make([]string, len(roots))
	for i, p := range roots {
		abs[i] = s.print(p)
	}
	list, err := json.Marshal(abs)
	if err != nil {
		return nil, err
	}
	var missing, paths []string
	err = s.read(ctx, func(q querier) error {
		var err error
		if missing, err = queryStrings(ctx, q, "select value from json_each(?) where value not in (select path from ValidPaths)", list); err != nil || len(missing) > 0 {
			return err
		}
		paths, err = queryStrings(ctx, q, `with recursive closure(id) as (
				select id from ValidPaths where path in (select value from json_each(?))
				union
				select reference from Refs join closure on referrer = closure.id)
			select path from ValidPaths join closure using (id)`, list)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("query closure: %w", err)
	}
	if len(missing) > 0 {
		return nil, &store.NotValidError{Path: missing[0]}
	}
	return s.parsePaths(paths)
}

// QueryValidPaths returns every valid path, sorted.
func (s *Store) QueryValidPaths(ctx context.Context) ([]storepath.Path, error) {
	q, err := s.pool(ctx)
	if err != nil {
		return nil, err
	}
	paths, err := queryStrings(ctx, q, "select path from ValidPaths")
	if err != nil {
		return nil, fmt.Errorf("query valid paths: %w", err)
	}
	return s.parsePaths(paths)
}

// QueryPathFromHashPart returns the valid path whose hash part is
// hashPart, or the zero Path.
func (s *Store) QueryPathFromHashPart(ctx context.Context, hashPart string) (storepath.Path, error) {
	q, err := s.pool(ctx)
	if err != nil {
		return storepath.Path{}, err
	}
	prefix := string(s.dir) + "/" + hashPart
	paths, err := queryStrings(ctx, q, "select path from ValidPaths where path >= ? limit 1", prefix)
	if err != nil {
		return storepath.Path{}, fmt.Errorf("query path from hash part %s: %w", hashPart, err)
	}
	if len(paths) == 0 || !strings.HasPrefix(paths[0], prefix+"-") {
		return storepath.Path{}, nil
	}
	return s.dir.Parse(paths[0])
}

// QueryDerivationOutputs returns the output paths recorded for the valid
// derivation drv, by output name.
func (s *Store) QueryDerivationOutputs(ctx context.Context, drv storepath.Path) (map[string]storepath.Path, error) {
	q, err := s.pool(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, "select id, path from DerivationOutputs where drv = (select id from ValidPaths where path = ?)", s.print(drv))
	if err != nil {
		return nil, fmt.Errorf("query outputs of %s: %w", s.print(drv), err)
	}
	defer rows.Close()
	out := map[string]storepath.Path{}
	for rows.Next() {
		var id, path string
		if err := rows.Scan(&id, &path); err != nil {
			return nil, fmt.Errorf("query outputs of %s: %w", s.print(drv), err)
		}
		p, err := s.dir.Parse(path)
		if err != nil {
			return nil, fmt.Errorf("query outputs of %s: %w", s.print(drv), err)
		}
		out[id] = p
	}
	return out, rows.Err()
}

// QueryValidDerivers returns the valid derivations that have p as an
// output, sorted.
func (s *Store) QueryValidDerivers(ctx context.Context, p storepath.Path) ([]storepath.Path, error) {
	q, err := s.pool(ctx)
	if err != nil {
		return nil, err
	}
	paths, err := queryStrings(ctx, q, "select v.path from DerivationOutputs d join ValidPaths v on d.drv = v.id where d.path = ?", s.print(p))
	if err != nil {
		return nil, fmt.Errorf("query derivers of %s: %w", s.print(p), err)
	}
	return s.parsePaths(paths)
}

func errNotValid(s *Store, p storepath.Path) error { return &store.NotValidError{Path: s.print(p)} }

// AddSignatures adds sigs ("<key name>:<base64>") to the signatures of
// the valid path p, keeping existing ones and dropping duplicates (Nix's
// addSignatures, used by nix store sign).
func (s *Store) AddSignatures(ctx context.Context, p storepath.Path, sigs []string) error {
	return s.withTx(ctx, func(tx querier) error {
		r, err := queryRow(ctx, tx, s.print(p))
		if err != nil {
			return err
		}
		if r == nil {
			return errNotValid(s, p)
		}
		have := strings.Fields(r.sigs.String)
		seen := map[string]bool{}
		for _, x := range have {
			seen[x] = true
		}
		for _, x := range sigs {
			if !seen[x] {
				seen[x] = true
				have = append(have, x)
			}
		}
		sort.Strings(have)
		_, err = tx.ExecContext(ctx, "update ValidPaths set sigs = ? where id = ?", sigsColumn(have), r.id)
		return err
	})
}

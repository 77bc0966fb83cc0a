package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

// RegisterValidPaths records infos as valid in one transaction, as Nix's
// registerValidPaths: a path already valid has its NAR hash and size,
// ultimate flag, signatures and CA updated (its deriver and registration
// time are kept); references are added; a derivation gets its outputs
// recorded in DerivationOutputs. Every reference must be valid or among
// infos. A reference cycle among infos aborts the transaction.
//
// The contents must already be final (canonicalised) at their real
// paths: this is the last step of making a path valid. A caller that
// writes contents itself (a builder) must, from before writing until this
// returns, hold a temporary root (AddTempRoot) and the path lock
// (LockPaths) of each path, so that neither a collector nor another
// writer touches them; HashPath gives the NAR hash, size and references.
func (s *Store) RegisterValidPaths(ctx context.Context, infos []*store.PathInfo) error {
	byPath := make(map[storepath.Path]*store.PathInfo, len(infos))
	paths := make([]storepath.Path, 0, len(infos))
	for _, info := range infos {
		if info.NarHash.Algo != nixhash.SHA256 {
			return fmt.Errorf("register %s: NAR hash must be sha256", s.print(info.Path))
		}
		if info.HasCA() {
			if err := info.CheckCA(s.dir); err != nil {
				return fmt.Errorf("register %s: path claims to be content-addressed but is not: %w", s.print(info.Path), err)
			}
		}
		byPath[info.Path] = info
		paths = append(paths, info.Path)
	}
	if _, err := store.TopoSort(paths, func(p storepath.Path) []storepath.Path { return byPath[p].References }); err != nil {
		return fmt.Errorf("register paths: %w", err)
	}
	drvOutputs := map[storepath.Path]map[string]storepath.Path{}
	for _, info := range infos {
		if info.Path.IsDerivation() {
			outs, err := s.derivationOutputs(ctx, info.Path)
			if err != nil {
				return fmt.Errorf("register %s: %w", s.print(info.Path), err)
			}
			drvOutputs[info.Path] = outs
		}
	}
	now := time.Now().Unix()
	return s.withTx(ctx, func(tx querier) error {
		ids := make(map[storepath.Path]int64, len(infos))
		for _, info := range infos {
			var id int64
			err := tx.QueryRowContext(ctx, sqlQueryID, s.print(info.Path)).Scan(&id)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("register %s: %w", s.print(info.Path), err)
			}
			valid := err == nil
			narSize := sql.NullInt64{Int64: int64(info.NarSize), Valid: info.NarSize != 0}
			ultimate := sql.NullInt64{Int64: 1, Valid: info.Ultimate}
			ca := sql.NullString{}
			if info.HasCA() {
				ca = sql.NullString{String: info.CA.String(), Valid: true}
			}
			hash := info.NarHash.Encode(nixhash.Base16, true)
			if valid {
				if _, err := tx.ExecContext(ctx, sqlUpdatePathInfo, narSize, hash, ultimate, sigsColumn(info.Signatures), ca, s.print(info.Path)); err != nil {
					return fmt.Errorf("update %s: %w", s.print(info.Path), err)
				}
				ids[info.Path] = id
				continue
			}
			regTime := now
			if !info.RegistrationTime.IsZero() {
				regTime = info.RegistrationTime.Unix()
			}
			deriver := sql.NullString{}
			if !info.Deriver.IsZero() {
				deriver = sql.NullString{String: s.print(info.Deriver), Valid: true}
			}
			res, err := tx.ExecContext(ctx, sqlRegisterValidPath, s.print(info.Path), hash, regTime, deriver, narSize, ultimate, sigsColumn(info.Signatures), ca)
			if err != nil {
				return fmt.Errorf("register %s: %w", s.print(info.Path), err)
			}
			if ids[info.Path], err = res.LastInsertId(); err != nil {
				return err
			}
			for name, out := range drvOutputs[info.Path] {
				if _, err := tx.ExecContext(ctx, sqlAddDerivationOutput, ids[info.Path], name, s.print(out)); err != nil {
					return fmt.Errorf("register outputs of %s: %w", s.print(info.Path), err)
				}
			}
		}
		for _, info := range infos {
			for _, ref := range info.References {
				refID, ok := ids[ref]
				if !ok {
					err := tx.QueryRowContext(ctx, sqlQueryID, s.print(ref)).Scan(&refID)
					if errors.Is(err, sql.ErrNoRows) {
						return fmt.Errorf("register %s: reference %w", s.print(info.Path), &store.NotValidError{Path: s.print(ref)})
					}
					if err != nil {
						return fmt.Errorf("register %s: %w", s.print(info.Path), err)
					}
					ids[ref] = refID
				}
				if _, err := tx.ExecContext(ctx, sqlAddReference, ids[info.Path], refID); err != nil {
					return fmt.Errorf("register references of %s: %w", s.print(info.Path), err)
				}
			}
		}
		return nil
	})
}

// The statements of registration, as Nix's RegisterValidPath,
// UpdatePathInfo, AddReference and AddDerivationOutput.
const (
	sqlQueryID             = "select id from ValidPaths where path = ?"
	sqlRegisterValidPath   = "insert into ValidPaths (path, hash, registrationTime, deriver, narSize, ultimate, sigs, ca) values (?, ?, ?, ?, ?, ?, ?, ?)"
	sqlUpdatePathInfo      = "update ValidPaths set narSize = ?, hash = ?, ultimate = ?, sigs = ?, ca = ? where path = ?"
	sqlAddReference        = "insert or replace into Refs (referrer, reference) values (?, ?)"
	sqlAddDerivationOutput = "insert or replace into DerivationOutputs (drv, id, path) values (?, ?, ?)"
)

// invalidate removes p from the database (its Refs rows as referrer and
// its DerivationOutputs go with it through the cascades), refusing if
// another valid path still refers to it.
func (s *Store) invalidate(ctx context.Context, tx querier, p storepath.Path) error {
	referrers, err := queryReferrers(ctx, tx, s.print(p))
	if err != nil {
		return fmt.Errorf("invalidate %s: %w", s.print(p), err)
	}
	for _, r := range referrers {
		if r != s.print(p) {
			return fmt.Errorf("cannot delete path '%s' because it is in use by '%s'", s.print(p), r)
		}
	}
	if _, err := tx.ExecContext(ctx, "delete from ValidPaths where path = ?", s.print(p)); err != nil {
		return fmt.Errorf("invalidate %s: %w", s.print(p), err)
	}
	return nil
}

package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dbRow is one ValidPaths row.
type dbRow struct {
	id               int64
	path             string
	hash             string // "sha256:<base16>"
	registrationTime int64
	deriver          sql.NullString
	narSize          sql.NullInt64
	ultimate         sql.NullInt64
	sigs             sql.NullString
	ca               sql.NullString
}

// openDB opens (and with create, initialises) the metadata database at
// file with the pragmas Nix 2.8 sets: foreign keys on, a one hour busy
// timeout, synchronous=normal (off without fsync), and WAL journalling
// with a 40000 page auto-checkpoint interval.
func openDB(ctx context.Context, file string, create, fsync bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(3600000)")
	q.Add("_pragma", "foreign_keys(1)")
	if fsync {
		q.Add("_pragma", "synchronous(normal)")
	} else {
		q.Add("_pragma", "synchronous(off)")
	}
	q.Add("_pragma", "wal_autocheckpoint(40000)")
	q.Set("_txlock", "immediate")
	mode := "rw"
	if create {
		mode = "rwc"
	}
	q.Set("mode", mode)
	dsn := "file:" + (&url.URL{Path: file}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", file, err)
	}
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	var jm string
	if err := db.QueryRowContext(ctx, "pragma main.journal_mode").Scan(&jm); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", file, err)
	}
	if jm != "wal" {
		// Changing the journal mode needs the database to itself, and
		// SQLite answers BUSY at once rather than waiting when another
		// process opening a fresh store holds it: retry, as Nix's
		// retrySQLite does.
		for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
			err = db.QueryRowContext(ctx, "pragma main.journal_mode = wal").Scan(&jm)
			if err == nil || !isBusy(err) || ctx.Err() != nil {
				break
			}
			time.Sleep(delay)
		}
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("set journal mode of %s: %w", file, err)
		}
	}
	if create {
		if _, err := db.ExecContext(ctx, schemaSQL); err != nil {
			db.Close()
			return nil, fmt.Errorf("create schema in %s: %w", file, err)
		}
	}
	return db, nil
}

// isBusy reports whether err is SQLITE_BUSY or SQLITE_PROTOCOL, which Nix
// retries.
func isBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_PROTOCOL
	}
	return false
}

// withTx runs f in a write transaction (BEGIN IMMEDIATE), retrying it
// while the database is busy.
func withTx(ctx context.Context, db *sql.DB, f func(tx *sql.Tx) error) error {
	for {
		err := tryTx(ctx, db, f)
		if err == nil || !isBusy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func tryTx(ctx context.Context, db *sql.DB, f func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

const rowCols = "id, path, hash, registrationTime, deriver, narSize, ultimate, sigs, ca"

func scanRow(sc interface{ Scan(...any) error }) (*dbRow, error) {
	var r dbRow
	if err := sc.Scan(&r.id, &r.path, &r.hash, &r.registrationTime, &r.deriver, &r.narSize, &r.ultimate, &r.sigs, &r.ca); err != nil {
		return nil, err
	}
	return &r, nil
}

// queryRow returns the ValidPaths row of path, or nil if it is not valid.
func queryRow(ctx context.Context, q querier, path string) (*dbRow, error) {
	r, err := scanRow(q.QueryRowContext(ctx, "select "+rowCols+" from ValidPaths where path = ?", path))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("query path info %s: %w", path, err)
	}
	return r, nil
}

func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func queryReferences(ctx context.Context, q querier, id int64) ([]string, error) {
	return queryStrings(ctx, q, "select path from Refs join ValidPaths on reference = id where referrer = ?", id)
}

func queryReferrers(ctx context.Context, q querier, path string) ([]string, error) {
	return queryStrings(ctx, q, "select path from Refs join ValidPaths on referrer = id where reference = (select id from ValidPaths where path = ?)", path)
}

// nullString maps "" to NULL.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// sigsColumn joins signatures with spaces, sorted and without
// duplicates as Nix (a std::set) writes them; none is NULL.
func sigsColumn(sigs []string) sql.NullString {
	sorted := slices.Clone(sigs)
	slices.Sort(sorted)
	return nullString(strings.Join(slices.Compact(sorted), " "))
}

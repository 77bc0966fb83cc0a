package local

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
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

// withTx runs f in a write transaction (BEGIN IMMEDIATE) on the Store's
// write connection, retrying it while the database is busy. f must run
// its statements through tx and must not call withTx itself (nor
// another method of the Store: read and withTx first register the rows
// of AddTextDeferred, in a transaction of their own).
//
// The write connection has no busy timeout: while another process holds
// the write lock, BEGIN fails at once and withTx waits here, where ctx
// can cancel the wait, instead of in SQLite's busy handler, which only a
// goroutine watching ctx for every BEGIN could interrupt.
func (s *Store) withTx(ctx context.Context, f func(tx querier) error) error {
	if err := s.Sync(ctx); err != nil {
		return err
	}
	delay := time.Millisecond
	for {
		err := s.w.tryTx(ctx, s.db, f)
		if err == nil || !isBusy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 20*time.Millisecond)
	}
}

// writer is a Store's connection for write transactions, with its own
// prepared statements. Transactions are plain BEGIN IMMEDIATE and COMMIT
// statements on it rather than database/sql's Tx, which watches its
// context with a goroutine per transaction and per query (a good part of
// the cost of registering one small path). One transaction runs at a
// time per Store; SQLite would serialise them anyway.
type writer struct {
	mu    sync.Mutex
	conn  *sql.Conn // nil until the first transaction
	stmts map[string]*sql.Stmt
}

// read runs f with a querier on the write connection, outside a
// transaction, if that connection is free, and on the connection pool
// otherwise. A single writer adding paths one by one thus reads on the
// connection that wrote last, whose page cache SQLite keeps: on another
// connection each write makes the next read reload the pages it touches
// from the WAL. f must be done with its rows when it returns.
//
// The write connection does not wait for locks (see withTx); a read that
// finds the database busy (another process recovering the WAL) is run
// again on the pool, which waits.
func (s *Store) read(ctx context.Context, f func(q querier) error) error {
	if err := s.Sync(ctx); err != nil {
		return err
	}
	w := &s.w
	if !w.mu.TryLock() {
		return f(s.q())
	}
	if w.connect(ctx, s.db) != nil {
		w.mu.Unlock()
		return f(s.q())
	}
	err := f(w.querier())
	w.mu.Unlock()
	if isBusy(err) {
		return f(s.q())
	}
	return err
}

func (w *writer) connect(ctx context.Context, db *sql.DB) error {
	if w.conn != nil {
		return nil
	}
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	if _, err := c.ExecContext(ctx, "pragma busy_timeout = 0"); err != nil {
		c.Close()
		return err
	}
	w.conn, w.stmts = c, map[string]*sql.Stmt{}
	return nil
}

func (w *writer) tryTx(ctx context.Context, db *sql.DB, f func(tx querier) error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.connect(ctx, db); err != nil {
		return err
	}
	// Without a busy timeout BEGIN does not wait, so it needs no
	// cancellation (and no goroutine watching ctx).
	if err := w.exec(context.WithoutCancel(ctx), "begin immediate"); err != nil {
		return err
	}
	committed := false
	defer func() {
		// Also when f panics: the connection must not stay in the
		// transaction. A failed COMMIT (busy) leaves it open too.
		if !committed {
			w.rollback()
		}
	}()
	if err := f(w.querier()); err != nil {
		return err
	}
	if err := w.exec(context.Background(), "commit"); err != nil {
		return err
	}
	committed = true
	return nil
}

// exec runs a statement without arguments, prepared once, with ctx as
// is.
func (w *writer) exec(ctx context.Context, query string) error {
	st, err := w.prepare(ctx, query)
	if err != nil {
		_, err = w.conn.ExecContext(ctx, query)
		return err
	}
	_, err = st.ExecContext(ctx)
	return err
}

// rollback ends the open transaction. If that fails, the connection
// might still be in a transaction, so it is discarded.
func (w *writer) rollback() {
	if err := w.exec(context.Background(), "rollback"); err != nil {
		w.discard()
	}
}

func (w *writer) discard() {
	for _, st := range w.stmts {
		st.Close()
	}
	w.conn.Raw(func(any) error { return driver.ErrBadConn })
	w.conn.Close()
	w.conn, w.stmts = nil, nil
}

func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn != nil {
		for _, st := range w.stmts {
			st.Close()
		}
		w.conn.Close()
		w.conn, w.stmts = nil, nil
	}
}

// prepare returns the writer connection's statement for query,
// preparing it the first time. The caller holds the writer's lock.
func (w *writer) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

// querier runs statements on the writer's connection (in its open
// transaction, if any); the caller holds the writer's lock.
func (w *writer) querier() querier { return stmtQuerier{w.prepare, w.conn} }

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

// stmtCache holds the statements a Store has prepared, by SQL text.
// database/sql prepares a *sql.Stmt on each connection that runs it and
// keeps it there, so each statement is parsed once per connection
// instead of once per use (SQLite's parser is a good part of a small
// query's cost).
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// q returns a querier running cached prepared statements on the
// database. It is for short statements, point queries that in WAL mode
// do not wait for other processes (statements in a write transaction,
// which holds the lock already, go through withTx's querier).
// pool is q for a query of the connection pool, once the rows of
// AddTextDeferred are written (as read and withTx do).
func (s *Store) pool(ctx context.Context) (querier, error) {
	if err := s.Sync(ctx); err != nil {
		return nil, err
	}
	return s.q(), nil
}

func (s *Store) q() querier {
	return stmtQuerier{func(ctx context.Context, query string) (*sql.Stmt, error) {
		return s.stmts.get(ctx, s.db, query)
	}, s.db}
}

// stmtQuerier runs each statement prepared once (by prepare), falling
// back to plain if that fails (which then reports the error). Statements
// run without the caller's cancellation, because watching a cancellable
// context costs a goroutine per statement, both in database/sql and in
// the driver; a cancelled context still stops the next statement.
type stmtQuerier struct {
	prepare func(ctx context.Context, query string) (*sql.Stmt, error)
	plain   querier
}

func (q stmtQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if ctx.Err() == nil {
		ctx = context.WithoutCancel(ctx)
		if st, err := q.prepare(ctx, query); err == nil {
			return st.QueryRowContext(ctx, args...)
		}
	}
	return q.plain.QueryRowContext(ctx, query, args...)
}

func (q stmtQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if ctx.Err() == nil {
		ctx = context.WithoutCancel(ctx)
		if st, err := q.prepare(ctx, query); err == nil {
			return st.QueryContext(ctx, args...)
		}
	}
	return q.plain.QueryContext(ctx, query, args...)
}

func (q stmtQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if ctx.Err() == nil {
		ctx = context.WithoutCancel(ctx)
		if st, err := q.prepare(ctx, query); err == nil {
			return st.ExecContext(ctx, args...)
		}
	}
	return q.plain.ExecContext(ctx, query, args...)
}

// Package narinfocache remembers what binary caches said about store
// paths, on disk, so that asking again is free: the narinfo a cache
// served (a positive entry) or that it had none (a negative entry), each
// for a time to live. It is Nix's narinfo disk cache
// (src/libstore/nar-info-disk-cache.cc, ~/.cache/nix/binary-cache-v6.sqlite)
// with the same schema, kept in a file of cairn's own:
//
//	BinaryCaches(id, url unique, timestamp, storeDir, wantMassQuery, priority)
//	NARs(cache, hashPart, namePart, url, compression, fileHash, fileSize,
//	     narHash, narSize, refs, deriver, sigs, ca, timestamp, present)
//	LastPurge(dummy, value)
//
// A negative entry is a NARs row with present = 0. Entries older than
// their TTL are ignored, and purged at most once a day. The defaults are
// Nix's narinfo-cache-positive-ttl (30 days) and
// narinfo-cache-negative-ttl (1 hour).
//
// Cache.Transport wraps an http.RoundTripper so that a binary cache
// client's GET requests for <hashpart>.narinfo are answered from the
// disk cache when it can, and remembered when it cannot: the client
// (package binarycache) needs no change.
package narinfocache

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cairn/internal/compat/narinfo"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

const schema = `
create table if not exists BinaryCaches (
    id        integer primary key autoincrement not null,
    url       text unique not null,
    timestamp integer not null,
    storeDir  text not null,
    wantMassQuery integer not null,
    priority  integer not null
);

create table if not exists NARs (
    cache            integer not null,
    hashPart         text not null,
    namePart         text,
    url              text,
    compression      text,
    fileHash         text,
    fileSize         integer,
    narHash          text,
    narSize          integer,
    refs             text,
    deriver          text,
    sigs             text,
    ca               text,
    timestamp        integer not null,
    present          integer not null,
    primary key (cache, hashPart),
    foreign key (cache) references BinaryCaches(id) on delete cascade
);

create table if not exists Realisations (
    cache integer not null,
    outputId text not null,
    content blob,
    timestamp        integer not null,
    primary key (cache, outputId),
    foreign key (cache) references BinaryCaches(id) on delete cascade
);

create table if not exists LastPurge (
    dummy            text primary key,
    value            integer
);
`

// Options configure a Cache.
type Options struct {
	// PositiveTTL is how long a narinfo is believed (default 30 days).
	PositiveTTL time.Duration
	// NegativeTTL is how long "the cache has no such path" is believed
	// (default 1 hour). Negative TTLs of zero disable negative entries.
	NegativeTTL time.Duration
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// Cache is an open narinfo disk cache. It is safe for concurrent use,
// also by several processes.
type Cache struct {
	db   *sql.DB
	opts Options
}

// Open opens (creating if needed) the disk cache in file.
func Open(ctx context.Context, file string, opts Options) (*Cache, error) {
	if opts.PositiveTTL == 0 {
		opts.PositiveTTL = 30 * 24 * time.Hour
	}
	if opts.NegativeTTL == 0 {
		opts.NegativeTTL = time.Hour
	}
	if opts.NegativeTTL < 0 {
		opts.NegativeTTL = 0
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, fmt.Errorf("open narinfo cache: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(60000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(off)")
	q.Add("_pragma", "journal_mode(truncate)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: file}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open narinfo cache %s: %w", file, err)
	}
	db.SetMaxOpenConns(2)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open narinfo cache %s: %w", file, err)
	}
	c := &Cache{db: db, opts: opts}
	if err := c.purge(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the database.
func (c *Cache) Close() error { return c.db.Close() }

// purge deletes expired entries, at most once a day (as Nix does).
func (c *Cache) purge(ctx context.Context) error {
	now := c.opts.Now().Unix()
	var last sql.NullInt64
	err := c.db.QueryRowContext(ctx, "select value from LastPurge").Scan(&last)
	if err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("narinfo cache: %w", err)
	}
	if last.Valid && now-last.Int64 < 24*3600 {
		return nil
	}
	_, err = c.db.ExecContext(ctx, `delete from NARs where ((present = 0 and timestamp < ?) or (present = 1 and timestamp < ?))`,
		now-int64(c.opts.NegativeTTL/time.Second), now-int64(c.opts.PositiveTTL/time.Second))
	if err == nil {
		_, err = c.db.ExecContext(ctx, "insert or replace into LastPurge(dummy, value) values ('', ?)", now)
	}
	if err != nil {
		return fmt.Errorf("narinfo cache: purge: %w", err)
	}
	return nil
}

// cacheID returns the id of the binary cache at cacheURL, registering it.
func (c *Cache) cacheID(ctx context.Context, cacheURL string, dir storepath.Dir) (int64, error) {
	var id int64
	err := c.db.QueryRowContext(ctx, "select id from BinaryCaches where url = ?", cacheURL).Scan(&id)
	if err == nil {
		return id, nil
	}
	if err != sql.ErrNoRows {
		return 0, fmt.Errorf("narinfo cache: %w", err)
	}
	_, err = c.db.ExecContext(ctx, `insert or ignore into BinaryCaches(url, timestamp, storeDir, wantMassQuery, priority) values (?, ?, ?, 0, 0)`,
		cacheURL, c.opts.Now().Unix(), string(dir))
	if err != nil {
		return 0, fmt.Errorf("narinfo cache: %w", err)
	}
	if err := c.db.QueryRowContext(ctx, "select id from BinaryCaches where url = ?", cacheURL).Scan(&id); err != nil {
		return 0, fmt.Errorf("narinfo cache: %w", err)
	}
	return id, nil
}

// Outcome is what Lookup found.
type Outcome int

const (
	Unknown Outcome = iota // nothing remembered, or expired
	Missing                // the cache has no such path (a negative entry)
	Present                // the narinfo is known
)

// Lookup returns what is remembered about hashPart in the cache at
// cacheURL: Present with the narinfo, Missing, or Unknown.
func (c *Cache) Lookup(ctx context.Context, cacheURL, hashPart string, dir storepath.Dir) (Outcome, *narinfo.NarInfo, error) {
	now := c.opts.Now().Unix()
	var (
		namePart, nurl, comp, fileHash, narHash, refs, deriver, sigs, ca sql.NullString
		fileSize, narSize                                                sql.NullInt64
		ts                                                               int64
		present                                                          bool
	)
	err := c.db.QueryRowContext(ctx, `select namePart, n.url, compression, fileHash, fileSize, narHash, narSize, refs, deriver, sigs, ca, n.timestamp, present
		from NARs n join BinaryCaches b on n.cache = b.id where b.url = ? and hashPart = ?`, cacheURL, hashPart).
		Scan(&namePart, &nurl, &comp, &fileHash, &fileSize, &narHash, &narSize, &refs, &deriver, &sigs, &ca, &ts, &present)
	if err == sql.ErrNoRows {
		return Unknown, nil, nil
	}
	if err != nil {
		return Unknown, nil, fmt.Errorf("narinfo cache: %w", err)
	}
	if !present {
		if now-ts < int64(c.opts.NegativeTTL/time.Second) {
			return Missing, nil, nil
		}
		return Unknown, nil, nil
	}
	if now-ts >= int64(c.opts.PositiveTTL/time.Second) {
		return Unknown, nil, nil
	}
	// Render the row as a narinfo and parse it, so what Lookup returns
	// passed the same checks as a narinfo from the cache.
	var b strings.Builder
	fmt.Fprintf(&b, "StorePath: %s/%s-%s\nURL: %s\nCompression: %s\n", dir, hashPart, namePart.String, nurl.String, comp.String)
	if fileHash.String != "" {
		fmt.Fprintf(&b, "FileHash: %s\nFileSize: %d\n", fileHash.String, fileSize.Int64)
	}
	fmt.Fprintf(&b, "NarHash: %s\nNarSize: %d\nReferences: %s\n", narHash.String, narSize.Int64, refs.String)
	if deriver.String != "" {
		fmt.Fprintf(&b, "Deriver: %s\n", deriver.String)
	}
	for _, s := range strings.Fields(sigs.String) {
		fmt.Fprintf(&b, "Sig: %s\n", s)
	}
	if ca.String != "" {
		fmt.Fprintf(&b, "CA: %s\n", ca.String)
	}
	ni, err := narinfo.Parse(strings.NewReader(b.String()))
	if err != nil {
		// A row we cannot use is as good as none.
		return Unknown, nil, nil
	}
	return Present, ni, nil
}

// Put remembers ni as the narinfo the cache at cacheURL serves.
func (c *Cache) Put(ctx context.Context, cacheURL string, ni *narinfo.NarInfo) error {
	id, err := c.cacheID(ctx, cacheURL, ni.StoreDir)
	if err != nil {
		return err
	}
	refs := make([]string, len(ni.References))
	for i, r := range ni.References {
		refs[i] = r.String()
	}
	var deriver, ca, fileHash string
	if ni.Deriver != (storepath.Path{}) {
		deriver = ni.Deriver.String()
	}
	if ni.HasCA() {
		ca = ni.CA.String()
	}
	if !ni.FileHash.IsZero() {
		fileHash = ni.FileHash.Encode(nixhash.Nix32, true)
	}
	_, err = c.db.ExecContext(ctx, `insert or replace into NARs(cache, hashPart, namePart, url, compression, fileHash, fileSize, narHash, narSize, refs, deriver, sigs, ca, timestamp, present)
		values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		id, ni.StorePath.HashPart(), ni.StorePath.Name(), ni.URL, ni.Compression, fileHash, int64(ni.FileSize),
		ni.NarHash.Encode(nixhash.Nix32, true), int64(ni.NarSize), strings.Join(refs, " "), deriver, strings.Join(ni.Sigs, " "), ca, c.opts.Now().Unix())
	if err != nil {
		return fmt.Errorf("narinfo cache: %w", err)
	}
	return nil
}

// PutMissing remembers that the cache at cacheURL has no path with
// hashPart.
func (c *Cache) PutMissing(ctx context.Context, cacheURL, hashPart string, dir storepath.Dir) error {
	if c.opts.NegativeTTL == 0 {
		return nil
	}
	id, err := c.cacheID(ctx, cacheURL, dir)
	if err != nil {
		return err
	}
	_, err = c.db.ExecContext(ctx, `insert or replace into NARs(cache, hashPart, timestamp, present) values (?, ?, ?, 0)`, id, hashPart, c.opts.Now().Unix())
	if err != nil {
		return fmt.Errorf("narinfo cache: %w", err)
	}
	return nil
}

// Package sqlite is the embedded default mail store: one SQLite database
// (modernc.org/sqlite, pure Go) in WAL mode holding metadata and bodies, so
// one COMMIT makes a delivery durable.
//
// All writes go through one writer goroutine that commits every waiting
// operation in a single transaction (group commit), each isolated by a
// SAVEPOINT so a failing operation rolls back only itself; callers are
// acknowledged only after COMMIT (synchronous=FULL) has returned. Reads use
// a separate pool of read-only connections and never wait for the writer.
//
// With modernc.org/sqlite every row a query returns costs about a
// microsecond and a half, however small, so the layout reads few rows:
// message metadata is also kept packed, 128 UIDs to a row (listing.go),
// for listings and SELECT, and a message's header section is stored apart
// from the rest of its body (headers.go), so header reads touch a few
// hundred bytes per message rather than its body's pages.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	// The pure-Go SQLite driver, registered as "sqlite".
	_ "modernc.org/sqlite"

	"github.com/kubemail/kubemail/mailserver/store"
)

// FileName is the database file Open creates in its directory.
const FileName = "mail.db"

// Defaults of Options.
const (
	DefaultMaxBatch      = 512
	DefaultMaxBatchBytes = 64 << 20
	DefaultReadConns     = 4
	DefaultBusyTimeout   = 10 * time.Second
	defaultQueueLength   = 1024
	defaultDirectoryMod  = 0o700
)

// Options configure Open. The zero value is usable.
type Options struct {
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// MaxBatch caps the operations committed in one transaction.
	MaxBatch int
	// MaxBatchBytes caps the message bytes committed in one transaction
	// (a larger single message still gets a transaction of its own).
	MaxBatchBytes int64
	// ReadConns is the number of read-only connections.
	ReadConns int
	// BusyTimeout is how long a connection waits for a lock held by
	// another process (there is none in normal operation).
	BusyTimeout time.Duration
	// Now returns the current time (arrival dates, UIDVALIDITY seeds);
	// nil means time.Now.
	Now func() time.Time
}

// Store is the SQLite store. It implements store.Store.
type Store struct {
	path  string
	log   *slog.Logger
	now   func() time.Time
	hub   *store.Hub
	wdb   *sql.DB         // one connection, owned by the writer goroutine
	wctx  context.Context // the writer's context, never cancelled
	wconn *sql.Conn
	w     *writeStmts
	rdb   *sql.DB // read-only pool
	r     *readStmts

	maxBatch      int
	maxBatchBytes int64
	ops           chan *op
	batches       atomic.Int64 // write transactions started, for tests
	writerDone    chan struct{}

	closeMu sync.RWMutex
	closed  bool
	// readClosed lets reads fail with store.ErrClosed without the lock.
	readClosed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store in directory dir, applies the
// schema migrations and starts the writer.
func Open(dir string, opts Options) (*Store, error) {
	if strings.ContainsAny(dir, "?#") {
		return nil, fmt.Errorf("opening store in %q: directory name must not contain '?' or '#'", dir)
	}
	if err := os.MkdirAll(dir, defaultDirectoryMod); err != nil { //nolint:gosec // G703: dir is the server's configured storage path
		return nil, fmt.Errorf("creating store directory: %w", err)
	}
	s := &Store{
		log:           opts.Logger,
		now:           opts.Now,
		hub:           store.NewHub(),
		wctx:          context.Background(),
		maxBatch:      opts.MaxBatch,
		maxBatchBytes: opts.MaxBatchBytes,
		ops:           make(chan *op, defaultQueueLength),
		writerDone:    make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBatch <= 0 {
		s.maxBatch = DefaultMaxBatch
	}
	if s.maxBatchBytes <= 0 {
		s.maxBatchBytes = DefaultMaxBatchBytes
	}
	readConns := opts.ReadConns
	if readConns <= 0 {
		readConns = DefaultReadConns
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	s.path = filepath.Join(dir, FileName)
	if err := s.open(s.path, busy, readConns); err != nil {
		_ = s.closeDBs() // the open error says what went wrong
		return nil, err
	}
	go s.writeLoop()
	return s, nil
}

func (s *Store) open(path string, busy time.Duration, readConns int) error {
	ctx := context.Background()
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", busy.Milliseconds())
	var err error
	s.wdb, err = sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return fmt.Errorf("opening database: %w", err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	if s.wconn, err = s.wdb.Conn(ctx); err != nil {
		return fmt.Errorf("opening database writer: %w", err)
	}
	var mode string
	if err := s.wconn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("checking journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("opening database: journal mode is %q, want wal", mode)
	}
	if err := migrate(ctx, s.wconn); err != nil {
		return err
	}
	if s.w, err = prepareWriteStmts(ctx, s.wconn); err != nil {
		return err
	}
	s.rdb, err = sql.Open("sqlite", path+"?"+common+"&_query_only=1")
	if err != nil {
		return fmt.Errorf("opening database readers: %w", err)
	}
	s.rdb.SetMaxOpenConns(readConns)
	s.rdb.SetMaxIdleConns(readConns)
	s.rdb.SetConnMaxIdleTime(0)
	if err := s.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("opening database readers: %w", err)
	}
	if s.r, err = prepareReadStmts(ctx, s.rdb); err != nil {
		return err
	}
	return nil
}

// Close stops accepting writes, lets the writer commit every operation
// already queued, ends all subscriptions and closes the database.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.readClosed.Store(true)
	close(s.ops)
	s.closeMu.Unlock()
	<-s.writerDone
	s.hub.Close()
	if err := s.closeDBs(); err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	return nil
}

func (s *Store) closeDBs() error {
	var errs []error
	if s.w != nil {
		errs = append(errs, s.w.close())
	}
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if s.r != nil {
		errs = append(errs, s.r.close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	return errors.Join(errs...)
}

// readable reports store.ErrClosed once Close has started.
func (s *Store) readable() error {
	if s.readClosed.Load() {
		return store.ErrClosed
	}
	return nil
}

// Subscribe implements store.Notifier.
func (s *Store) Subscribe(opts store.SubscribeOptions) (*store.Subscription, error) {
	return s.hub.Subscribe(opts)
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migration is one schema version: SQL, then optionally Go code filling
// what the SQL created from existing rows, in the same transaction.
type migration struct {
	sql      string
	backfill func(ctx context.Context, conn *sql.Conn) error
}

// migrations are applied in order at Open; migrations[i] brings the schema
// from version i to i+1. Append new migrations (for example the outbound
// queue's tables); never edit one that has shipped.
var migrations = []migration{
	// Version 1: accounts, folders, messages, bodies, tombstones.
	//
	// Counters that must be O(1) to read (folder messages/unseen/size and
	// uidnext/highestmodseq, account usage) live in rows and are maintained
	// by triggers on messages, so no code path can forget them; bodies are
	// reference-counted by the same triggers, so a body shared by N
	// recipients is written once and deleted with its last message.
	{sql: `
CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE accounts (
	id          INTEGER PRIMARY KEY,
	address     TEXT NOT NULL UNIQUE,
	usage_bytes INTEGER NOT NULL DEFAULT 0,
	usage_count INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE folders (
	id            INTEGER PRIMARY KEY,
	account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name          TEXT NOT NULL,
	special_use   TEXT NOT NULL DEFAULT '',
	subscribed    INTEGER NOT NULL DEFAULT 0,
	uidvalidity   INTEGER NOT NULL,
	uidnext       INTEGER NOT NULL DEFAULT 1,
	highestmodseq INTEGER NOT NULL DEFAULT 1,
	messages      INTEGER NOT NULL DEFAULT 0,
	unseen        INTEGER NOT NULL DEFAULT 0,
	size          INTEGER NOT NULL DEFAULT 0,
	UNIQUE (account_id, name)
);

CREATE TABLE bodies (
	id   INTEGER PRIMARY KEY,
	refs INTEGER NOT NULL DEFAULT 0,
	data BLOB NOT NULL
);

-- body_id has no foreign key on purpose: the refcount triggers keep it
-- valid, and a foreign key would need an index on messages(body_id).
CREATE TABLE messages (
	folder_id     INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
	uid           INTEGER NOT NULL,
	modseq        INTEGER NOT NULL,
	flags         INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	meta          BLOB NOT NULL, -- see meta.go
	body_id       INTEGER NOT NULL,
	PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;

CREATE TABLE expunged (
	folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
	uid       INTEGER NOT NULL,
	modseq    INTEGER NOT NULL,
	PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;

-- flags bit 1 is \Seen (store.FlagSeen).
CREATE TRIGGER messages_insert AFTER INSERT ON messages BEGIN
	UPDATE bodies SET refs = refs + 1 WHERE id = NEW.body_id;
	UPDATE folders SET
		messages = messages + 1,
		unseen = unseen + ((NEW.flags & 1) = 0),
		size = size + NEW.size,
		uidnext = max(uidnext, NEW.uid + 1),
		highestmodseq = max(highestmodseq, NEW.modseq)
	WHERE id = NEW.folder_id;
	UPDATE accounts SET
		usage_bytes = usage_bytes + NEW.size,
		usage_count = usage_count + 1
	WHERE id = (SELECT account_id FROM folders WHERE id = NEW.folder_id);
END;

CREATE TRIGGER messages_delete AFTER DELETE ON messages BEGIN
	UPDATE folders SET
		messages = messages - 1,
		unseen = unseen - ((OLD.flags & 1) = 0),
		size = size - OLD.size
	WHERE id = OLD.folder_id;
	UPDATE accounts SET
		usage_bytes = usage_bytes - OLD.size,
		usage_count = usage_count - 1
	WHERE id = (SELECT account_id FROM folders WHERE id = OLD.folder_id);
	UPDATE bodies SET refs = refs - 1 WHERE id = OLD.body_id;
	DELETE FROM bodies WHERE id = OLD.body_id AND refs <= 0;
END;

CREATE TRIGGER messages_seen AFTER UPDATE OF flags ON messages
WHEN (OLD.flags & 1) != (NEW.flags & 1) BEGIN
	UPDATE folders SET unseen = unseen + (CASE WHEN (NEW.flags & 1) = 0 THEN 1 ELSE -1 END)
	WHERE id = NEW.folder_id;
END;
`},
	// Version 2: the outbound queue (queue_schema.go).
	{sql: queueSchema},
	// Version 3: the listing (listing.go), filled from the messages, and
	// the header sections of new bodies (headers.go); bodies stored
	// before keep their header and have no headers row.
	{sql: listingSchema, backfill: backfillListing},
}

// migrate brings the database to the latest schema version in one
// transaction on conn.
func migrate(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("starting migration: %w", err)
	}
	if err := applyMigrations(ctx, conn); err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("committing migration: %w", err)
	}
	return nil
}

func applyMigrations(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("creating schema_version: %w", err)
	}
	var version int
	err := conn.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := conn.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("initializing schema_version: %w", err)
		}
	case err != nil:
		return fmt.Errorf("reading schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this binary's %d", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		if _, err := conn.ExecContext(ctx, migrations[v].sql); err != nil {
			return fmt.Errorf("migrating schema to version %d: %w", v+1, err)
		}
		if fill := migrations[v].backfill; fill != nil {
			if err := fill(ctx, conn); err != nil {
				return fmt.Errorf("migrating data to schema version %d: %w", v+1, err)
			}
		}
	}
	if _, err := conn.ExecContext(ctx, `UPDATE schema_version SET version = ?`, len(migrations)); err != nil {
		return fmt.Errorf("recording schema version %d: %w", len(migrations), err)
	}
	return nil
}

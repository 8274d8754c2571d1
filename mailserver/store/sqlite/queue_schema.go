package sqlite

// queueSchema is migration 2: the outbound queue (store.Queue).
//
// A queued message keeps its own copy of the body: queue rows are
// short-lived, and keeping them out of the mailboxes' body reference
// counts keeps those exact and simple. Times are Unix nanoseconds.
// Recipients go with their message (ON DELETE CASCADE); Settle deletes a
// message with its last recipient.
const queueSchema = `
CREATE TABLE queue_messages (
	id          INTEGER PRIMARY KEY,
	msgid       TEXT NOT NULL UNIQUE,
	sender      TEXT NOT NULL,
	account     TEXT NOT NULL DEFAULT '',
	envid       TEXT NOT NULL DEFAULT '',
	ret         TEXT NOT NULL DEFAULT '',
	requiretls  INTEGER NOT NULL DEFAULT 0,
	utf8        INTEGER NOT NULL DEFAULT 0,
	created     INTEGER NOT NULL,
	size        INTEGER NOT NULL,
	body        BLOB NOT NULL
);

CREATE TABLE queue_recipients (
	id             INTEGER PRIMARY KEY,
	message_id     INTEGER NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
	address        TEXT NOT NULL,
	domain         TEXT NOT NULL,
	orcpt          TEXT NOT NULL DEFAULT '',
	notify         INTEGER NOT NULL DEFAULT 0,
	attempts       INTEGER NOT NULL DEFAULT 0,
	next_attempt   INTEGER NOT NULL,
	last_attempt   INTEGER NOT NULL DEFAULT 0,
	last_error     TEXT NOT NULL DEFAULT '',
	in_flight      INTEGER NOT NULL DEFAULT 0,
	delay_notified INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX queue_recipients_due ON queue_recipients (next_attempt);
CREATE INDEX queue_recipients_message ON queue_recipients (message_id);
`

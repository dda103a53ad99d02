-- Records: one per managed resource. data is the whole store.Record as
-- JSON; kind, phase and updated are copies for queries. They carry no
-- index yet: no query needs one, and each index costs a page write per
-- commit (measured: 1.8x fewer records/s with three of them).
CREATE TABLE records (
	id      TEXT PRIMARY KEY,
	kind    TEXT NOT NULL,
	phase   TEXT NOT NULL,
	updated INTEGER NOT NULL, -- unix nanoseconds, 0 when unset
	data    BLOB NOT NULL
) WITHOUT ROWID;

-- Events, aggregated by (resource, type, reason, message).
CREATE TABLE events (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	resource   TEXT NOT NULL,
	type       TEXT NOT NULL,
	reason     TEXT NOT NULL,
	message    TEXT NOT NULL,
	revision   TEXT NOT NULL,
	count      INTEGER NOT NULL,
	first_seen INTEGER NOT NULL, -- unix nanoseconds
	last_seen  INTEGER NOT NULL, -- unix nanoseconds
	UNIQUE (resource, type, reason, message)
);
CREATE INDEX events_last_seen ON events (last_seen, id);
CREATE INDEX events_resource_last_seen ON events (resource, last_seen, id);

-- Revisions in the order they were first put.
CREATE TABLE revisions (
	seq       INTEGER PRIMARY KEY AUTOINCREMENT,
	hash      TEXT NOT NULL UNIQUE,
	created   INTEGER NOT NULL, -- unix nanoseconds
	sources   TEXT NOT NULL,    -- JSON array of strings
	state     TEXT NOT NULL,
	reason    TEXT NOT NULL,
	resources BLOB
);

-- The target revision: at most one row.
CREATE TABLE target (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	hash TEXT NOT NULL REFERENCES revisions (hash)
);

-- Several processes may share one state: every record carries a version,
-- so that writes can be conditional, and every change is logged, so that
-- each process can follow the others' (see changes.go).
--
-- One sequence numbers the changes: each record put, record delete and
-- target change is a row of changes, numbered by SQLite (the largest seq
-- plus one), inside the writer's transaction, and a put stores the number
-- as the record's version. changes keeps the recent ones for watchers,
-- with no gap; those up to change_log.compacted are forgotten, except the
-- newest change, which is never deleted, so that numbers never go back.
-- There is no counter row: it would cost a page per commit.
ALTER TABLE records ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
CREATE TABLE change_log (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	compacted INTEGER NOT NULL -- changes up to this number are forgotten
);
CREATE TABLE changes (
	seq  INTEGER PRIMARY KEY, -- the change's number (not AUTOINCREMENT: see above)
	kind TEXT NOT NULL,       -- put, delete or target
	id   TEXT NOT NULL,       -- the record's ID; for target, the new target ('' when cleared)
	at   INTEGER NOT NULL     -- unix nanoseconds
);
-- The current token of each fence (see store.Fence).
CREATE TABLE fences (
	name  TEXT PRIMARY KEY,
	token TEXT NOT NULL
) WITHOUT ROWID;
-- Records written before versions get versions 1, 2, 3..., as if written
-- once each by changes already forgotten: a watcher lists them first. The
-- last of those changes is kept, for the numbers to go on from it.
UPDATE records SET version = v.n
	FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM records) AS v
	WHERE v.id = records.id;
INSERT INTO change_log (id, compacted) SELECT 1, count(*) FROM records;
INSERT INTO changes (seq, kind, id, at) SELECT version, 'put', id, 0 FROM records
	WHERE version = (SELECT max(version) FROM records);

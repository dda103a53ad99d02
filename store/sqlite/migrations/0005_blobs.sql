-- Large strings (file contents) inside records and revisions are stored
-- once, in blobs, under the sha256 of their JSON encoding; the rows hold a
-- reference instead (see blobs.go). A row's blobs column lists the blobs it
-- references, as a JSON array (NULL for none, and for every row written
-- before this migration). blob_refs counts the rows that reference each
-- blob; it is a table of its own so that a count changing never rewrites
-- the blob. The triggers keep the counts as rows come, change and go, and
-- delete a blob with its last reference. A row's writer inserts the blobs
-- it references (with a count of 0) before the row.
CREATE TABLE blobs (
	hash TEXT PRIMARY KEY, -- "sha256:" and the hex sha256 of data
	data BLOB NOT NULL     -- a JSON string literal, quotes included
);
CREATE TABLE blob_refs (
	hash TEXT PRIMARY KEY,
	refs INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE records ADD COLUMN blobs TEXT;
ALTER TABLE revisions ADD COLUMN blobs TEXT;

CREATE TRIGGER records_blobs_insert AFTER INSERT ON records WHEN NEW.blobs IS NOT NULL BEGIN
	UPDATE blob_refs SET refs = refs + 1 WHERE hash IN (SELECT value FROM json_each(NEW.blobs));
END;
CREATE TRIGGER records_blobs_update AFTER UPDATE OF blobs ON records
WHEN OLD.blobs IS NOT NULL OR NEW.blobs IS NOT NULL BEGIN
	UPDATE blob_refs SET refs = refs + 1 WHERE hash IN (
		SELECT value FROM json_each(coalesce(NEW.blobs, '[]')) EXCEPT SELECT value FROM json_each(coalesce(OLD.blobs, '[]')));
	UPDATE blob_refs SET refs = refs - 1 WHERE hash IN (
		SELECT value FROM json_each(coalesce(OLD.blobs, '[]')) EXCEPT SELECT value FROM json_each(coalesce(NEW.blobs, '[]')));
	DELETE FROM blobs WHERE hash IN (SELECT hash FROM blob_refs WHERE refs <= 0 AND hash IN (SELECT value FROM json_each(coalesce(OLD.blobs, '[]'))));
	DELETE FROM blob_refs WHERE refs <= 0 AND hash IN (SELECT value FROM json_each(coalesce(OLD.blobs, '[]')));
END;
CREATE TRIGGER records_blobs_delete AFTER DELETE ON records WHEN OLD.blobs IS NOT NULL BEGIN
	UPDATE blob_refs SET refs = refs - 1 WHERE hash IN (SELECT value FROM json_each(OLD.blobs));
	DELETE FROM blobs WHERE hash IN (SELECT hash FROM blob_refs WHERE refs <= 0 AND hash IN (SELECT value FROM json_each(OLD.blobs)));
	DELETE FROM blob_refs WHERE refs <= 0 AND hash IN (SELECT value FROM json_each(OLD.blobs));
END;

CREATE TRIGGER revisions_blobs_insert AFTER INSERT ON revisions WHEN NEW.blobs IS NOT NULL BEGIN
	UPDATE blob_refs SET refs = refs + 1 WHERE hash IN (SELECT value FROM json_each(NEW.blobs));
END;
CREATE TRIGGER revisions_blobs_update AFTER UPDATE OF blobs ON revisions
WHEN OLD.blobs IS NOT NULL OR NEW.blobs IS NOT NULL BEGIN
	UPDATE blob_refs SET refs = refs + 1 WHERE hash IN (
		SELECT value FROM json_each(coalesce(NEW.blobs, '[]')) EXCEPT SELECT value FROM json_each(coalesce(OLD.blobs, '[]')));
	UPDATE blob_refs SET refs = refs - 1 WHERE hash IN (
		SELECT value FROM json_each(coalesce(OLD.blobs, '[]')) EXCEPT SELECT value FROM json_each(coalesce(NEW.blobs, '[]')));
	DELETE FROM blobs WHERE hash IN (SELECT hash FROM blob_refs WHERE refs <= 0 AND hash IN (SELECT value FROM json_each(coalesce(OLD.blobs, '[]'))));
	DELETE FROM blob_refs WHERE refs <= 0 AND hash IN (SELECT value FROM json_each(coalesce(OLD.blobs, '[]')));
END;
CREATE TRIGGER revisions_blobs_delete AFTER DELETE ON revisions WHEN OLD.blobs IS NOT NULL BEGIN
	UPDATE blob_refs SET refs = refs - 1 WHERE hash IN (SELECT value FROM json_each(OLD.blobs));
	DELETE FROM blobs WHERE hash IN (SELECT hash FROM blob_refs WHERE refs <= 0 AND hash IN (SELECT value FROM json_each(OLD.blobs)));
	DELETE FROM blob_refs WHERE refs <= 0 AND hash IN (SELECT value FROM json_each(OLD.blobs));
END;

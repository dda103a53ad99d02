-- Events are written for nearly every change, and each index costs a
-- b-tree insert per write. The unique index (resource, type, reason,
-- message) already serves the per-resource filter; listing by time sorts.
DROP INDEX events_last_seen;
DROP INDEX events_resource_last_seen;

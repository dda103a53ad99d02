-- Revision history: the git commit the manifests were at, and when the
-- revision last converged (which makes it the last known good one).
ALTER TABLE revisions ADD COLUMN git_commit TEXT NOT NULL DEFAULT '';
ALTER TABLE revisions ADD COLUMN converged INTEGER NOT NULL DEFAULT 0; -- unix nanoseconds, 0 when never

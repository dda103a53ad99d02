package store

import (
	"context"
	"time"
)

// RevisionState is where a revision stands.
type RevisionState string

// Revision states.
const (
	RevisionProgressing RevisionState = "progressing"
	RevisionConverged   RevisionState = "converged"
	RevisionFailed      RevisionState = "failed"
	RevisionRolledBack  RevisionState = "rolled-back"
	// RevisionHeld is a revision that was not targeted because it would
	// delete more than the deletion limit allows; Reason says what.
	RevisionHeld RevisionState = "held"
)

// Revision is a desired set converge targeted.
type Revision struct {
	Hash    string        `json:"hash"`
	Created time.Time     `json:"created"`
	Sources []string      `json:"sources"`
	State   RevisionState `json:"state"`
	Reason  string        `json:"reason,omitempty"`
	// Commit is the git commit of the manifests' work tree, with "-dirty"
	// when they had uncommitted changes; empty outside git.
	Commit string `json:"commit,omitempty"`
	// Converged is when the revision last converged; the revision that
	// converged last is the last known good one.
	Converged time.Time `json:"converged,omitempty"`
	// Resources is the revision's resources, serialized by the manifest
	// package, so an earlier revision can be targeted again.
	Resources []byte `json:"-"`
}

// RevisionStore keeps the revisions converge targeted, and which one is
// the target.
type RevisionStore interface {
	// PutRevision inserts or updates (by hash) a revision.
	PutRevision(ctx context.Context, r Revision) error
	GetRevision(ctx context.Context, hash string) (Revision, error)
	ListRevisions(ctx context.Context) ([]Revision, error) // oldest first
	SetTarget(ctx context.Context, hash string) error
	Target(ctx context.Context) (string, error) // ErrNotFound when none
	// ClearTarget forgets the target: nothing is desired (after a destroy).
	ClearTarget(ctx context.Context) error
}

// LastKnownGood returns the revision among revs that converged last,
// leaving out those that failed or that someone rolled back from.
func LastKnownGood(revs []Revision) (Revision, bool) {
	var best Revision
	for _, r := range revs {
		if r.State == RevisionFailed || r.State == RevisionRolledBack {
			continue
		}
		if !r.Converged.IsZero() && r.Converged.After(best.Converged) {
			best = r
		}
	}
	return best, best.Hash != ""
}

// RevisionPruner is implemented by stores that can forget old revisions.
type RevisionPruner interface {
	// PruneRevisions deletes the revisions older than the newest keep,
	// except the target and the last known good revision (see
	// LastKnownGood), which are never deleted. It returns how many it
	// deleted. keep <= 0 keeps them all.
	PruneRevisions(ctx context.Context, keep int) (int, error)
}

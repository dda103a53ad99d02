package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
)

// DeleteLimit caps how many of the resources a state manages one new
// revision may delete before a person confirms it: a share of them
// (Percent, "50%") or a number (Count, "10"). The zero value allows no
// deletion at all.
type DeleteLimit struct {
	Percent float64 // 0-100, used when IsPercent
	Count   int
	// IsPercent says the limit is Percent, not Count.
	IsPercent bool
}

// ParseDeleteLimit reads "50%" or "10".
func ParseDeleteLimit(s string) (DeleteLimit, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f > 100 {
			return DeleteLimit{}, fmt.Errorf("%q: want a percentage from 0%% to 100%% or a number of resources", s)
		}
		return DeleteLimit{Percent: f, IsPercent: true}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return DeleteLimit{}, fmt.Errorf("%q: want a percentage such as 50%% or a number of resources such as 10", s)
	}
	return DeleteLimit{Count: n}, nil
}

func (l DeleteLimit) String() string {
	if l.IsPercent {
		return strconv.FormatFloat(l.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(l.Count)
}

// Deletions is what targeting a revision would take out of management:
// the recorded resources it no longer declares.
type Deletions struct {
	Managed int      // resources the state records
	IDs     []string // recorded resources the revision does not declare, sorted
}

// PlanDeletions returns what targeting rv would delete (or forget, for
// adopted objects and deletion policy orphan) of recs. It is pure.
func PlanDeletions(recs []store.Record, rv *manifest.Revision) Deletions {
	d := Deletions{Managed: len(recs)}
	for _, r := range recs {
		if _, ok := rv.Get(r.ID); !ok {
			d.IDs = append(d.IDs, r.ID)
		}
	}
	return d
}

// Exceeds reports whether d deletes more than the limit allows.
func (l DeleteLimit) Exceeds(d Deletions) bool {
	n := len(d.IDs)
	if n == 0 {
		return false
	}
	if l.IsPercent {
		return float64(n)*100 > l.Percent*float64(d.Managed)
	}
	return n > l.Count
}

// Summary names how many resources leave and the first few of them:
// "3 of the 4 resources converge manages (a, b, c)".
func (d Deletions) Summary() string {
	return fmt.Sprintf("%d of the %d resources converge manages (%s)", len(d.IDs), d.Managed, listIDs(d.IDs))
}

// ErrEmpty says that a desired set with no resources would delete every
// resource the state manages. errors.Is matches every *EmptyError.
var ErrEmpty = errors.New("the manifests declare no resources")

// EmptyError refuses an empty desired set over a state that manages
// resources.
type EmptyError struct{ Deletions Deletions }

func (e *EmptyError) Error() string {
	return fmt.Sprintf("the manifests declare no resources, but the state manages %d: converging them would delete all of them (%s). If that is what you mean, pass --allow-empty (or run converge destroy)",
		e.Deletions.Managed, listIDs(e.Deletions.IDs))
}

func (e *EmptyError) Is(target error) bool { return target == ErrEmpty }

// ErrDeletionHeld says a revision would delete more than the deletion
// limit allows. errors.Is matches every *HeldError.
var ErrDeletionHeld = errors.New("deletion held")

// HeldError holds a revision that deletes more than the limit allows.
type HeldError struct {
	Revision  string
	Deletions Deletions
	Limit     DeleteLimit
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("revision %s would delete %s, more than --max-delete %s allows; held, not applied. To release it: converge apply --allow-delete, or a higher --max-delete",
		short(e.Revision), e.Deletions.Summary(), e.Limit)
}

func (e *HeldError) Is(target error) bool { return target == ErrDeletionHeld }

// listIDs names the first few IDs.
func listIDs(ids []string) string {
	more := ""
	if len(ids) > 5 {
		more = fmt.Sprintf(", and %d more", len(ids)-5)
		ids = ids[:5]
	}
	return strings.Join(ids, ", ") + more
}

// Guard is how much deletion a new target may bring without a person
// saying so.
type Guard struct {
	AllowEmpty  bool        // an empty desired set may delete everything
	AllowDelete bool        // any number of deletions
	MaxDelete   DeleteLimit // otherwise, at most this many
}

// Check returns nil when targeting rv over recs stays within the guard,
// else an *EmptyError or a *HeldError. A nil rv (a destroy) is not
// limited. It is pure.
func (g Guard) Check(recs []store.Record, rv *manifest.Revision) error {
	if rv == nil {
		return nil // a destroy says it
	}
	d := PlanDeletions(recs, rv)
	if len(d.IDs) == 0 {
		return nil
	}
	if len(rv.Resources) == 0 {
		if g.AllowEmpty {
			return nil
		}
		return &EmptyError{Deletions: d}
	}
	if !g.AllowDelete && g.MaxDelete.Exceeds(d) {
		return &HeldError{Revision: rvHash(rv), Deletions: d, Limit: g.MaxDelete}
	}
	return nil
}

// Hold records rv as held (not targeted) for the reason err gives, with a
// DeletionHeld warning event, so that status and history show what would
// be deleted and how to release it. The target does not change.
func (e *Engine) Hold(ctx context.Context, rv *manifest.Revision, held *HeldError) error {
	b, err := manifest.Marshal(rv)
	if err != nil {
		return fmt.Errorf("encode revision: %w", err)
	}
	rec := store.Revision{Hash: rv.Hash, Created: e.opts.Clock.Now(), Sources: rv.Paths, State: store.RevisionHeld, Reason: held.Error(), Resources: b, Commit: rv.Commit}
	if old, err := e.store.GetRevision(ctx, rv.Hash); err == nil {
		if old.State == store.RevisionHeld && old.Reason == rec.Reason {
			return nil // already held for this
		}
		rec.Converged = old.Converged // Created is now: the newest revision is the one held
	}
	if !e.opts.DryRun {
		if err := e.store.PutRevision(ctx, rec); err != nil {
			return fmt.Errorf("save held revision: %w", err)
		}
	}
	e.event(ctx, "", store.Warning, store.ReasonDeletionHeld, held.Error())
	e.alert("failure", store.ReasonDeletionHeld, "", "", held.Error(), nil)
	return nil
}

package store

import (
	"context"
	"errors"
	"fmt"
)

// Errors of conditional writes, matched with errors.Is.
var (
	// ErrConflict is matched by the error of a conditional write that lost
	// a race: the record's version is not the one the write expected. The
	// error is a *ConflictError.
	ErrConflict = errors.New("version conflict")
	// ErrFenced is matched by the error of a conditional write whose fence
	// token is no longer current: its writer lost the lease, shard or lock
	// the token stood for. The error is a *FencedError.
	ErrFenced = errors.New("fenced off")
)

// AnyVersion, given as the version of a conditional write, skips the
// version check: only the fence is checked.
const AnyVersion int64 = -1

// Fence is a fencing token. A conditional write made with a Fence commits
// only if Token is, at that moment, the current token of the fence called
// Name (see Fencer), checked in the same atomic step as the write: a
// writer that lost its token cannot write any more, however late its
// write arrives. The zero Fence checks nothing.
//
// Tokens are opaque: whoever grants the fence chooses them (a random
// string, a lease ID, an etcd revision), and the store compares them for
// equality only.
type Fence struct {
	Name  string
	Token string
}

// CheckConditions returns the error of conditions a conditional write
// cannot be made with: a negative version other than AnyVersion, or a
// fence name without a token.
func CheckConditions(version int64, f Fence) error {
	if version < 0 && version != AnyVersion {
		return fmt.Errorf("version %d: want 0, a version, or AnyVersion", version)
	}
	if f.Name != "" && f.Token == "" {
		return fmt.Errorf("fence %s: empty token", f.Name)
	}
	return nil
}

// ConditionalRecordStore is implemented by stores whose record writes can
// be made conditional, so that several writers (goroutines, processes,
// nodes) can share records safely: each reads a record, changes it and
// writes it back with the version it read, and retries on ErrConflict.
//
// The conditions are checked and the write made in one atomic step,
// against every writer of the store, in this process or another; writes
// without conditions (PutRecord, DeleteRecord, deferred writes) are
// ordered with them. The fence is checked before the version.
type ConditionalRecordStore interface {
	// PutRecordIf stores r, as PutRecord does, if the stored record's
	// version is version (0: if no record r.ID exists; AnyVersion: any)
	// and fence is current. It returns r's new version. r.Version is
	// ignored. A lost race fails with a *ConflictError (ErrConflict), a
	// stale fence with a *FencedError (ErrFenced); either way nothing is
	// written.
	PutRecordIf(ctx context.Context, r Record, version int64, fence Fence) (int64, error)
	// DeleteRecordIf deletes the record id under the same conditions.
	// With version 0 or AnyVersion, deleting a missing record does
	// nothing and succeeds.
	DeleteRecordIf(ctx context.Context, id string, version int64, fence Fence) error
}

// Fencer is implemented by stores that keep the current tokens of fences
// (see Fence). Granting a token (who holds a lease or a lock) is decided
// elsewhere; the store only makes the decision binding on writes.
type Fencer interface {
	// SetFence makes token the current token of the fence name: once it
	// returns, every conditional write fenced by name with another token
	// fails with ErrFenced. An empty token clears the fence, so that every
	// write fenced by name fails.
	SetFence(ctx context.Context, name, token string) error
}

// ConflictError is the error of a conditional write that lost a race.
type ConflictError struct {
	Op   string // put or delete
	ID   string // the record
	Want int64  // the version the write expected; 0: no record
	Got  int64  // the version stored; 0: no record
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s record %s: %v: the write expected %s, the store has %s",
		e.Op, e.ID, ErrConflict, versionString(e.Want), versionString(e.Got))
}

// Unwrap makes the error match ErrConflict.
func (e *ConflictError) Unwrap() error { return ErrConflict }

func versionString(v int64) string {
	if v == 0 {
		return "no record"
	}
	return fmt.Sprintf("version %d", v)
}

// FencedError is the error of a conditional write whose token is stale.
type FencedError struct {
	Op      string // put or delete
	ID      string // the record
	Fence   string // the fence's name
	Token   string // the token the write carried
	Current string // the fence's current token; empty when none
}

func (e *FencedError) Error() string {
	cur := "it is not held"
	if e.Current != "" {
		cur = fmt.Sprintf("its token is now %q", e.Current)
	}
	return fmt.Sprintf("%s record %s: %v: the write carried token %q of fence %s, and %s",
		e.Op, e.ID, ErrFenced, e.Token, e.Fence, cur)
}

// Unwrap makes the error match ErrFenced.
func (e *FencedError) Unwrap() error { return ErrFenced }

// AnyTarget, given as the target a conditional target write expects,
// skips that check: only the fence is checked. It is no revision's hash.
const AnyTarget = "*"

// ConditionalTargetStore is implemented by stores whose target can be set
// under conditions, checked and written in one atomic step against every
// writer of the store: only while the target is still the one the writer
// read (so that two writers, such as converge rollback and a daemon that
// reloads its manifests, cannot silently overwrite each other), and only
// while the writer's fence is current (so that only the holder of a token,
// the leader of a cluster, publishes the target, however late its request
// arrives).
type ConditionalTargetStore interface {
	// SetTargetIf makes the revision hash the target, as SetTarget does,
	// if fence is current (the zero Fence checks nothing): it is
	// SetTargetFrom(ctx, AnyTarget, hash, fence).
	SetTargetIf(ctx context.Context, hash string, fence Fence) error
	// SetTargetFrom makes the revision hash the target, as SetTarget
	// does, if the target is still from (empty: no target; AnyTarget:
	// any) and fence is current. The fence is checked first; a target
	// that is hash already is left as it is and the call succeeds. A
	// stale fence fails with a *FencedError (ErrFenced), a target that
	// changed with a *TargetConflictError (ErrConflict), a revision
	// never put with an error wrapping ErrNotFound; either way the
	// target is left as it was.
	SetTargetFrom(ctx context.Context, from, hash string, fence Fence) error
}

// TargetConflictError is the error of a conditional target write that
// lost a race: the target is no longer the one the write expected.
type TargetConflictError struct {
	Hash string // the revision the write would have targeted
	Want string // the target the write expected; empty: none
	Got  string // the target stored; empty: none
}

func (e *TargetConflictError) Error() string {
	return fmt.Sprintf("set target %s: %v: the write expected %s, the store has %s",
		e.Hash, ErrConflict, targetString(e.Want), targetString(e.Got))
}

// Unwrap makes the error match ErrConflict.
func (e *TargetConflictError) Unwrap() error { return ErrConflict }

func targetString(h string) string {
	if h == "" {
		return "no target"
	}
	return "target " + h
}

// CheckTarget returns the error of a conditional target write that must
// not proceed, the target being cur (empty: none): a *TargetConflictError
// when from is neither cur nor AnyTarget. A target that is hash already
// passes: the write would change nothing.
func CheckTarget(from, hash, cur string) error {
	if from == AnyTarget || from == cur || cur == hash {
		return nil
	}
	return &TargetConflictError{Hash: hash, Want: from, Got: cur}
}

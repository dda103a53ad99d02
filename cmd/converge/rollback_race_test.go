package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/convergehq/converge/store"
)

// racingTarget is a state in which, between the rollback's read of the
// target and its conditional write of it, race runs: another writer moves
// the target.
type racingTarget struct {
	store.Store
	race  func(ctx context.Context, read string) error
	raced int
}

func (s *racingTarget) GetMeta(ctx context.Context, key string) (string, error) {
	return s.Store.(store.Meta).GetMeta(ctx, key)
}

func (s *racingTarget) SetMeta(ctx context.Context, key, value string) error {
	return s.Store.(store.Meta).SetMeta(ctx, key, value)
}

// SetTarget, an unconditional write, races too: it overwrites what the
// other writer wrote.
func (s *racingTarget) SetTarget(ctx context.Context, hash string) error {
	if s.raced == 0 {
		s.raced++
		cur, err := s.Store.Target(ctx)
		if err != nil {
			return err
		}
		if err := s.race(ctx, cur); err != nil {
			return err
		}
	}
	return s.Store.SetTarget(ctx, hash)
}

func (s *racingTarget) SetTargetIf(ctx context.Context, hash string, f store.Fence) error {
	return s.SetTargetFrom(ctx, store.AnyTarget, hash, f)
}

func (s *racingTarget) SetTargetFrom(ctx context.Context, from, hash string, f store.Fence) error {
	if s.raced == 0 {
		s.raced++
		if err := s.race(ctx, from); err != nil {
			return err
		}
	}
	return s.Store.(store.ConditionalTargetStore).SetTargetFrom(ctx, from, hash, f)
}

// converge rollback beside a daemon that loads new manifests between the
// rollback's choice and its target write: the rollback writes nothing and
// says so, naming the revisions, and the daemon's new target is not lost.
func TestRollbackRacesDaemon(t *testing.T) {
	e := newEnv(t)
	v1 := map[string]string{"a.txt": "a1"}
	v2 := map[string]string{"a.txt": "a2", "b.txt": "b2"}
	v3 := map[string]string{"a.txt": "a3", "c.txt": "c3"}
	e.write(filesSet(v1))
	e.bin(0, "apply")
	e.write(filesSet(v2))
	p := start(t, append([]string{"run", "--resync", "1s"}, e.globalArgs()...)...)
	defer func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	}()
	eventually(t, 20*time.Second, "the daemon converges v2", treeIs(e.root, fileTree(v2)))
	eventually(t, 10*time.Second, "v2 recorded converged", func() string {
		if got := states(e.history()); len(got) != 2 || got[1] != "converged target lkg" {
			return fmt.Sprint(got)
		}
		return ""
	})
	hist := e.history()
	h1, h2 := hist[0].Hash, hist[1].Hash

	var (
		moved string
		racer = &racingTarget{}
	)
	racer.race = func(ctx context.Context, read string) error {
		if read != h2 {
			return fmt.Errorf("the rollback chose against target %s; want v2's %s", short(read), short(h2))
		}
		// The daemon loads new manifests and targets them.
		e.write(filesSet(v3))
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if cur, err := racer.Store.Target(ctx); err == nil && cur != h2 && cur != h1 {
				moved = cur
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		return errors.New("the daemon did not target the new manifests within 20s")
	}
	wrapStore = func(st store.Store) store.Store {
		racer.Store = st
		return racer
	}
	defer func() { wrapStore = func(st store.Store) store.Store { return st } }()
	r := cliContext(t.Context(), append([]string{"rollback"}, e.globalArgs()...)...)
	wrapStore = func(st store.Store) store.Store { return st }
	if racer.raced != 1 || moved == "" {
		t.Fatalf("the race ran %d times, the daemon moved the target to %q; want once, to v3's: %s", racer.raced, moved, r)
	}
	if r.code == 0 {
		t.Fatalf("rollback after losing the race succeeded; want it to fail: %s", r)
	}
	for _, want := range []string{"the target changed", short(h1), short(h2), short(moved), "run converge rollback again"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("rollback's error %q; want it to name %q", r.stderr, want)
		}
	}
	// The daemon's target stands, and it converges it.
	eventually(t, 20*time.Second, "the daemon converges v3", treeIs(e.root, fileTree(v3)))
	for _, h := range e.history() {
		if h.Target && h.Hash != moved {
			t.Errorf("target %s after the race; want %s, the daemon's, not lost", short(h.Hash), short(moved))
		}
	}
	if ev := e.mustRun(0, "events"); strings.Contains(ev.stdout, "rolled back by hand") {
		t.Errorf("events:\n%s\nwant no RolledBack event: the rollback did not happen", ev.stdout)
	}
}

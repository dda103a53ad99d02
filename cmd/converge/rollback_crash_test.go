package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/store"
)

var errCrashed = errors.New("the process crashed")

// crashPoint counts the writes of one command and, from the at-th on,
// fails them and cancels the command, as if the process had died just
// before that write.
type crashPoint struct {
	mu      sync.Mutex
	at, n   int
	crashed bool
	cancel  context.CancelFunc
}

func (c *crashPoint) write() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.n < c.at {
		return nil
	}
	if !c.crashed {
		c.crashed = true
		c.cancel()
	}
	return errCrashed
}

// crashingStore is a store whose writes go through a crashPoint.
type crashingStore struct {
	store.Store
	c *crashPoint
}

func (s *crashingStore) PutRecord(ctx context.Context, r store.Record) error {
	if err := s.c.write(); err != nil {
		return err
	}
	return s.Store.PutRecord(ctx, r)
}

func (s *crashingStore) DeleteRecord(ctx context.Context, id string) error {
	if err := s.c.write(); err != nil {
		return err
	}
	return s.Store.DeleteRecord(ctx, id)
}

func (s *crashingStore) AddEvent(ctx context.Context, e store.Event) (store.Event, error) {
	if err := s.c.write(); err != nil {
		return store.Event{}, err
	}
	return s.Store.AddEvent(ctx, e)
}

func (s *crashingStore) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	if err := s.c.write(); err != nil {
		return 0, err
	}
	return s.Store.PruneEvents(ctx, before)
}

func (s *crashingStore) PutRevision(ctx context.Context, r store.Revision) error {
	if err := s.c.write(); err != nil {
		return err
	}
	return s.Store.PutRevision(ctx, r)
}

func (s *crashingStore) SetTarget(ctx context.Context, hash string) error {
	if err := s.c.write(); err != nil {
		return err
	}
	return s.Store.SetTarget(ctx, hash)
}

func (s *crashingStore) ClearTarget(ctx context.Context) error {
	if err := s.c.write(); err != nil {
		return err
	}
	return s.Store.ClearTarget(ctx)
}

func (s *crashingStore) GetMeta(ctx context.Context, key string) (string, error) {
	return s.Store.(store.Meta).GetMeta(ctx, key)
}

func (s *crashingStore) SetMeta(ctx context.Context, key, value string) error {
	if err := s.c.write(); err != nil {
		return err
	}
	return s.Store.(store.Meta).SetMeta(ctx, key, value)
}

// cliContext runs converge in process with ctx as the command's context.
func cliContext(ctx context.Context, args ...string) result {
	var out, errb bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(""))
	cmd.SetContext(ctx)
	code := execute(cmd, args)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// A converge rollback that dies before any of its writes, run again,
// rolls back to the revision the first run chose, not to the one before
// it, and ends in exactly that revision's files.
func TestRollbackResumesAfterCrash(t *testing.T) {
	vx := map[string]string{"a.txt": "x", "x.txt": "x"}
	va := map[string]string{"a.txt": "a", "b.txt": "a"}
	vb := map[string]string{"a.txt": "b", "c.txt": "b"}
	tried := 0
	for at := 1; at < 100; at++ {
		e := newEnv(t)
		var hashes []string
		for _, v := range []map[string]string{vx, va, vb} {
			e.write(filesSet(v))
			e.mustRun(0, "apply")
			h := e.history()
			hashes = append(hashes, h[len(h)-1].Hash)
		}
		want := hashes[1] // the last known good before the target vb

		ctx, cancel := context.WithCancel(t.Context())
		c := &crashPoint{at: at, cancel: cancel}
		wrapStore = func(st store.Store) store.Store { return &crashingStore{Store: st, c: c} }
		started := time.Now()
		first := cliContext(ctx, append([]string{"rollback"}, e.globalArgs()...)...)
		wrapStore = func(st store.Store) store.Store { return st }
		cancel()

		hist := e.history()
		done := false // the first run converged its revision before it died
		for _, h := range hist {
			if h.Hash == want && h.Target && h.State == store.RevisionConverged && h.Converged.After(started) {
				done = true
			}
		}
		switch {
		case !c.crashed:
			// The rollback made fewer than at writes: every crash point was tried.
			if first.code != 0 || !done {
				t.Fatalf("rollback without a crash: %s\nhistory %v", first, states(hist))
			}
			if tried == 0 {
				t.Fatal("no crash point was tried")
			}
			t.Logf("the rollback makes %d writes; a crash before each of the first %d left it to resume", at-1, tried)
			// Once it is done, a new rollback goes back further.
			e.mustRun(0, "rollback")
			for _, h := range e.history() {
				if h.Target && h.Hash != hashes[0] {
					t.Errorf("a rollback after a finished one targets %s; want %s, the revision before", short(h.Hash), short(hashes[0]))
				}
			}
			return
		case done:
			continue // it died after its work was done: a new rollback would go further back
		}
		tried++
		again := e.run("rollback")
		if again.code != 0 {
			t.Errorf("crash before write %d: the second rollback: %s", at, again)
			continue
		}
		var target string
		for _, h := range e.history() {
			if h.Target {
				target = h.Hash
			}
		}
		if target != want {
			t.Errorf("crash before write %d: the second rollback targets %s; want %s, the revision the first one chose\nfirst run:\n%s\nsecond run:\n%s", at, short(target), short(want), first, again)
		}
		if diff := cmp.Diff(fileTree(va), tree(t, e.root)); diff != "" {
			t.Errorf("crash before write %d: files after the second rollback (-want +got):\n%s", at, diff)
		}
	}
	t.Fatal("the rollback still crashed after 99 writes")
}

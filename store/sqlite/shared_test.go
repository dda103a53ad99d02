package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// sharedChildEnv names the state file a re-executed test binary opens
// Shared, as a second converge process would, to increment the counter
// sharedIncrements times.
const sharedChildEnv = "CONVERGE_SQLITE_SHARED_CHILD"

const (
	counterID        = "counter.C/n"
	sharedIncrements = 200
)

// increment adds 1 to the counter's Attempts by read, change and
// conditional write, retrying lost races; it returns how many it lost.
func increment(ctx context.Context, db *sqlite.DB) (lost int, err error) {
	for ; ; lost++ {
		r, err := db.GetRecord(ctx, counterID)
		if errors.Is(err, store.ErrNotFound) {
			r = store.Record{ID: counterID, Kind: "counter.C"}
		} else if err != nil {
			return lost, err
		}
		r.Attempts++
		if _, err = db.PutRecordIf(ctx, r, r.Version, store.Fence{}); !errors.Is(err, store.ErrConflict) {
			return lost, err
		}
	}
}

// doneID is the record the second process writes last, stamped with the
// time its write returned.
const doneID = "done.D/child"

// sharedChild is the second process: it opens the state Shared,
// increments the counter, prints how many races it lost, and puts doneID.
func sharedChild(path string) error {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path, sqlite.Shared())
	if err != nil {
		return err
	}
	defer db.Close()
	lost := 0
	for range sharedIncrements {
		n, err := increment(ctx, db)
		if err != nil {
			return err
		}
		lost += n
	}
	fmt.Println("lost", lost)
	// Stamped before the write; the watcher measures from the stamp.
	if err := db.PutRecord(ctx, store.Record{ID: doneID, Updated: time.Now()}); err != nil {
		return err
	}
	return db.Close()
}

// child is a running second process.
type child struct {
	cmd            *exec.Cmd
	Stdout, Stderr strings.Builder
}

// startChild starts, in a new process, the child that env names (see
// TestMain) on path.
func startChild(t *testing.T, path, env string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	c.cmd.Env = append(os.Environ(), env+"="+path)
	c.cmd.Stdout, c.cmd.Stderr = &c.Stdout, &c.Stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	return c
}

func (c *child) Wait() error { return c.cmd.Wait() }

// latencyChildEnv names the state file a re-executed test binary opens
// Shared to write latencyWrites records, 100 ms apart, each stamped
// (Updated) with the time its write started.
const latencyChildEnv = "CONVERGE_SQLITE_LATENCY_CHILD"

const latencyWrites = 10

func latencyChild(path string) error {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path, sqlite.Shared())
	if err != nil {
		return err
	}
	defer db.Close()
	for i := range latencyWrites {
		time.Sleep(100 * time.Millisecond)
		if err := db.PutRecord(ctx, store.Record{ID: fmt.Sprintf("latency.L/%d", i), Updated: time.Now()}); err != nil {
			return err
		}
	}
	return db.Close()
}

// TestSharedHandlesConditional races increments through two handles on
// one file, the second opened Shared: none is lost, and a writer holding
// a version the other handle replaced loses.
func TestSharedHandlesConditional(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	first := open(t, path)
	second := open(t, path, sqlite.Shared())

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, db := range []*sqlite.DB{first, second, first, second} {
		wg.Go(func() {
			for range 50 {
				if _, err := increment(ctx, db); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	r, err := first.GetRecord(ctx, counterID)
	if err != nil || r.Attempts != 200 {
		t.Fatalf("counter = %d, %v; want 200", r.Attempts, err)
	}

	if _, err := second.PutRecordIf(ctx, store.Record{ID: counterID}, r.Version, store.Fence{}); err != nil {
		t.Fatal(err)
	}
	_, err = first.PutRecordIf(ctx, store.Record{ID: counterID}, r.Version, store.Fence{})
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Want != r.Version || ce.Got <= r.Version {
		t.Errorf("PutRecordIf on a version the other handle replaced = %v; want a conflict", err)
	}
	// A fence set through one handle binds writes through the other.
	if err := second.SetFence(ctx, "engine", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := first.PutRecordIf(ctx, store.Record{ID: counterID}, store.AnyVersion, store.Fence{Name: "engine", Token: "a"}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("PutRecordIf with a token the other handle replaced = %v; want ErrFenced", err)
	}
}

// TestTwoProcessesShareOneState races increments from this process (the
// exclusive writer) and a second one (opened Shared): SQLite's locking
// makes each check-and-write atomic across processes, so none is lost.
func TestTwoProcessesShareOneState(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	db := open(t, path)
	if err := db.PutRecord(ctx, store.Record{ID: counterID, Kind: "counter.C"}); err != nil {
		t.Fatal(err)
	}

	child := startChild(t, path, sharedChildEnv)
	lost := 0
	for range sharedIncrements {
		n, err := increment(ctx, db)
		if err != nil {
			t.Fatalf("increment: %v", err)
		}
		lost += n
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v; stderr:\n%s", err, child.Stderr.String())
	}
	r, err := db.GetRecord(ctx, counterID)
	if err != nil || r.Attempts != 2*sharedIncrements {
		t.Errorf("counter = %d, %v; want %d, the increments of both processes", r.Attempts, err, 2*sharedIncrements)
	}
	t.Logf("this process lost %d races, the other %s", lost, strings.TrimSpace(strings.TrimPrefix(child.Stdout.String(), "lost ")))
}

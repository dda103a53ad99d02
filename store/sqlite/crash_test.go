package sqlite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// crashChildEnv names the state file a re-executed test binary writes to
// until it is killed.
const crashChildEnv = "CONVERGE_SQLITE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		os.Exit(2) // crashChild only returns on error
	}
	for env, child := range map[string]func(string) error{sharedChildEnv: sharedChild, latencyChildEnv: latencyChild} {
		if path := os.Getenv(env); path != "" {
			if err := child(path); err != nil {
				fmt.Fprintln(os.Stderr, "child:", err)
				os.Exit(2)
			}
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}

// crashChild writes records from several goroutines forever, printing
// "ack ID" once each write returned nil.
func crashChild(path string) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return
	}
	var mu sync.Mutex // one line per write(2)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("crash.C/%d-%07d", g, i)
				if err := db.PutRecord(ctx, crashRecord(id)); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					return
				}
				if _, err := db.AddEvent(ctx, store.Event{Type: store.Normal, Reason: "Written", Message: id, Resource: id}); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					return
				}
				mu.Lock()
				_, err := os.Stdout.WriteString("ack " + id + "\n")
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
}

func crashRecord(id string) store.Record {
	return store.Record{ID: id, Kind: "crash.C", Phase: store.PhaseReady, AppliedSpec: map[string]any{"id": id, "pad": strings.Repeat("x", 200)}}
}

// TestCrashKeepsAcknowledgedWrites kills a writing child process with
// SIGKILL and checks that the database opens, is intact, and holds every
// write the child had acknowledged.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("StdoutPipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}

	const killAfter = 3000
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			t.Fatalf("child printed %q", sc.Text())
		}
		acked = append(acked, id)
		if len(acked) == killAfter {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill child: %v", err)
			}
		}
	}
	// Acks the child printed before it died are read above, to EOF.
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v after %d acks; want killed by SIGKILL after %d; stderr:\n%s", err, len(acked), killAfter, stderr.String())
	}

	// The lock died with the child: a read-write Open succeeds.
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open after crash: %v", err)
	}
	defer db.Close()
	raw := rawDB(t, path+"?mode=ro")
	var integrity string
	if err := raw.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity_check = %q, %v; want ok", integrity, err)
	}

	ctx := t.Context()
	lost := 0
	for _, id := range acked {
		got, err := db.GetRecord(ctx, id)
		if err != nil || got.AppliedSpec["id"] != id {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged record %s: got %v, %v", id, got.AppliedSpec["id"], err)
			}
			continue
		}
		events, err := db.ListEvents(ctx, store.EventFilter{Resource: id})
		if err != nil || len(events) != 1 {
			lost++
			t.Errorf("acknowledged event of %s: got %d events, %v; want 1", id, len(events), err)
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost", lost, len(acked))
	}
}

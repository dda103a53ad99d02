package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// stateDump is everything a state holds, as JSON, for comparing two
// moments of one state.
func stateDump(t *testing.T, path string) string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	revs, err := st.ListRevisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := st.Target(ctx)
	evs, err := st.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(map[string]any{"records": recs, "revisions": revs, "target": target, "events": evs}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRunDryRunWritesNothing: run --dry-run finds the change, reports it in
// its logs, and leaves the state exactly as it was.
func TestRunDryRunWritesNothing(t *testing.T) {
	e := newEnv(t)
	copyQuickstart(t, e)
	e.bin(0, "apply")
	before := stateDump(t, e.state)
	dbBefore, err := os.ReadFile(e.state)
	if err != nil {
		t.Fatal(err)
	}

	assets, err := os.ReadFile(filepath.Join(e.manifests, "assets.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(assets), `content: "release 1\n"`, `content: "release 2\n"`, 1)
	if edited == string(assets) {
		t.Fatal("examples/quickstart/assets.yaml no longer declares release 1")
	}
	e.write(map[string]string{"assets.yaml": edited})

	d := start(t, append([]string{"run", "--dry-run", "--resync", "200ms"}, e.globalArgs()...)...)
	eventually(t, 10*time.Second, "the dry run reports the update", func() string {
		if !strings.Contains(d.stderr.String(), "dry run: would update") {
			return "no dry-run report in the logs yet:\n" + d.stderr.String()
		}
		return ""
	})
	time.Sleep(500 * time.Millisecond) // a few resyncs and progress ticks
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := d.code(); got != 0 {
		t.Fatalf("run --dry-run exited %d\n%s", got, d.stderr.String())
	}
	if diff := cmp.Diff(before, stateDump(t, e.state)); diff != "" {
		t.Errorf("run --dry-run changed the state (-before +after):\n%s", diff)
	}
	dbAfter, err := os.ReadFile(e.state)
	if err != nil {
		t.Fatal(err)
	}
	if string(dbBefore) != string(dbAfter) {
		t.Errorf("run --dry-run rewrote the state file")
	}
	if got := tree(t, e.root); !cmp.Equal(got, quickstartTree("release 1\n")) {
		t.Errorf("run --dry-run changed the tree: %s", cmp.Diff(quickstartTree("release 1\n"), got))
	}
}

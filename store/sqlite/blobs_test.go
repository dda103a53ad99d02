package sqlite_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
	"github.com/convergehq/converge/store/storetest"
)

// stateSize is the size of the state file with its write-ahead log.
func stateSize(t *testing.T, path string) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// bigRevision is a revision of one file whose content is content.
func bigRevision(t *testing.T, i int, content string) store.Revision {
	t.Helper()
	b, err := json.Marshal(map[string]any{"hash": fmt.Sprintf("rev%03d", i), "resources": []any{
		map[string]any{"id": "file.File/big", "spec": map[string]any{"path": "big.txt", "content": content}},
		map[string]any{"id": "file.File/small", "spec": map[string]any{"path": "small.txt", "content": fmt.Sprint("revision ", i)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return store.Revision{Hash: fmt.Sprintf("rev%03d", i), Created: t0.Add(time.Duration(i) * time.Minute), Sources: []string{"m.yaml"},
		State: store.RevisionConverged, Converged: t0.Add(time.Duration(i)*time.Minute + time.Second), Resources: b}
}

// A file content that every revision and the record repeat is stored
// once: 100 revisions of a 1 MB content, and the record that applied it
// 100 times, fit in a few megabytes, and read back identically.
func TestLargeContentStoredOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := open(t, path)
	ctx := t.Context()
	content := strings.Repeat("0123456789abcde\n", 1<<16) // 1 MiB
	var revs []store.Revision
	var rec store.Record
	for i := range 100 {
		rv := bigRevision(t, i, content)
		if err := db.PutRevision(ctx, rv); err != nil {
			t.Fatalf("PutRevision %d: %v", i, err)
		}
		if err := db.SetTarget(ctx, rv.Hash); err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rv)
		// The record goes through its phases, as the engine writes it.
		rec = store.Record{ID: "file.File/big", Kind: "file.File", Name: "big", Phase: store.PhaseUpdating, Revision: rv.Hash, Attempts: i,
			Pending: &store.Operation{Op: "update", Key: fmt.Sprint("k", i), Spec: map[string]any{"path": "big.txt", "content": content}, Started: t0}}
		if err := db.PutRecord(ctx, rec); err != nil {
			t.Fatalf("PutRecord %d: %v", i, err)
		}
		rec.Phase, rec.Pending = store.PhaseReady, nil
		rec.AppliedSpec = map[string]any{"path": "big.txt", "content": content}
		rec.Outputs = map[string]any{"size": int64(len(content))}
		if err := db.PutRecord(ctx, rec); err != nil {
			t.Fatalf("PutRecord %d: %v", i, err)
		}
	}
	mustClose(t, db)
	size := stateSize(t, path)
	t.Logf("100 revisions and 200 writes of a record of a %d-byte content: a %d-byte state file", len(content), size)
	if size > 5<<20 {
		t.Errorf("state file of %d bytes; want under 5 MB: the content is to be stored once", size)
	}

	db = open(t, path, sqlite.ReadOnly())
	got, err := db.ListRevisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(revs, got, cmp.Comparer(bytes.Equal)); diff != "" {
		t.Errorf("revisions read back (-want +got):\n%.2000s", diff)
	}
	for _, i := range []int{0, 57, 99} {
		r, err := db.GetRevision(ctx, revs[i].Hash)
		if err != nil || string(r.Resources) != string(revs[i].Resources) {
			t.Errorf("GetRevision(%s): %d bytes, %v; want the %d bytes put", revs[i].Hash, len(r.Resources), err, len(revs[i].Resources))
		}
	}
	gotRec, err := db.GetRecord(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec, gotRec, storetest.IgnoreVersion); diff != "" {
		t.Errorf("record read back (-want +got):\n%.2000s", diff)
	}
}

func blobCount(t *testing.T, path string) (blobs, refs int) {
	t.Helper()
	raw := rawDB(t, path)
	defer raw.Close()
	if err := raw.QueryRow(`SELECT (SELECT count(*) FROM blobs), (SELECT count(*) FROM blob_refs)`).Scan(&blobs, &refs); err != nil {
		t.Fatalf("count blobs: %v", err)
	}
	return blobs, refs
}

// A stored content goes with the last record or revision that refers to
// it, in the same transaction.
func TestBlobsGoWithTheirLastReference(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := open(t, path)
	ctx := t.Context()
	one, two := strings.Repeat("one\n", 2000), strings.Repeat("two\n", 2000)
	put := func(id string, spec map[string]any) {
		t.Helper()
		if err := db.PutRecord(ctx, store.Record{ID: id, AppliedSpec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	want := func(step string, blobs int) {
		t.Helper()
		if b, r := blobCount(t, path); b != blobs || r != blobs {
			t.Errorf("%s: %d blobs, %d counts; want %d of each", step, b, r, blobs)
		}
	}
	put("a.A/1", map[string]any{"content": one})
	put("a.A/2", map[string]any{"content": one, "again": one})
	want("two records of one content", 1)
	put("a.A/1", map[string]any{"content": two})
	want("one record changed to another content", 2)
	if err := db.DeleteRecord(ctx, "a.A/2"); err != nil {
		t.Fatal(err)
	}
	want("the last record of the first content deleted", 1)
	rv := store.Revision{Hash: "r1", State: store.RevisionConverged, Converged: t0, Resources: []byte(fmt.Sprintf(`{"c":%q}`, two))}
	if err := db.PutRevision(ctx, rv); err != nil {
		t.Fatal(err)
	}
	put("a.A/1", map[string]any{"content": "small"})
	want("a revision keeps the content the record let go of", 1)
	db.DeleteRecordDeferred("a.A/1")
	for i := 2; i <= 3; i++ {
		if err := db.PutRevision(ctx, store.Revision{Hash: fmt.Sprint("r", i), State: store.RevisionConverged, Converged: t0.Add(time.Duration(i) * time.Hour), Resources: []byte(`[]`)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetTarget(ctx, "r3"); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PruneRevisions(ctx, 1); err != nil || n != 2 {
		t.Fatalf("PruneRevisions(1) = %d, %v; want 2", n, err)
	}
	want("every reference gone", 0)
}

// With HistoryLimit, recording a new revision prunes the history in the
// same write: the newest revisions stay, with the target and the last
// known good one.
func TestHistoryLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := open(t, path, sqlite.HistoryLimit(3))
	ctx := t.Context()
	for i := range 10 {
		r := store.Revision{Hash: fmt.Sprint("r", i), State: store.RevisionProgressing, Resources: []byte(`[]`)}
		if i == 0 {
			r.State, r.Converged = store.RevisionConverged, t0
		}
		if err := db.PutRevision(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := db.SetTarget(ctx, r.Hash); err != nil {
			t.Fatal(err)
		}
	}
	// Updating a revision is not recording a new one.
	if err := db.PutRevision(ctx, store.Revision{Hash: "r8", State: store.RevisionFailed}); err != nil {
		t.Fatal(err)
	}
	revs, err := db.ListRevisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range revs {
		got = append(got, r.Hash)
	}
	if diff := cmp.Diff([]string{"r0", "r7", "r8", "r9"}, got); diff != "" {
		t.Errorf("revisions with a history limit of 3 (-want +got):\n%s", diff)
	}
}

package sqlite_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/storetest"
)

// TestNumbersRoundTrip checks that a record's numbers come back from the
// database exactly, in provider.Canonical form: an id an API assigned
// beyond int64 is the same id after a restart.
func TestNumbersRoundTrip(t *testing.T) {
	spec := func() map[string]any {
		return map[string]any{
			"id":     json.Number("12345678901234567891"),
			"big":    json.Number("123456789012345678901234567890"),
			"max":    int64(9223372036854775807),
			"ratio":  json.Number("0.1"),
			"half":   1.5,
			"digits": json.Number("3.14159265358979323846"),
			"list":   []any{json.Number("-99999999999999999999"), int64(1)},
		}
	}
	want := store.Record{
		ID: "http.Resource/a", Kind: "http.Resource", Name: "a", Phase: store.PhaseReady,
		AppliedSpec: map[string]any{"body": spec()},
		Outputs:     spec(),
		Private:     map[string]string{"id": "12345678901234567891"},
		Pending:     &store.Operation{Op: "update", Key: "k", Spec: map[string]any{"body": spec()}, Started: t0},
		Deposed:     []store.Instance{{Spec: spec(), Outputs: spec()}},
		Updated:     t0,
	}
	path := filepath.Join(t.TempDir(), "state.db")
	db := open(t, path)
	// The provider's values, as Go code may hold them: uint64, float64.
	put := want
	put.Outputs = map[string]any{}
	for k, v := range spec() {
		put.Outputs[k] = v
	}
	put.Outputs["id"] = uint64(12345678901234567891)
	put.Outputs["ratio"] = 0.1
	if err := db.PutRecord(t.Context(), put); err != nil {
		t.Fatal(err)
	}
	mustClose(t, db)

	db = open(t, path)
	got, err := db.GetRecord(t.Context(), want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, storetest.IgnoreVersion); diff != "" {
		t.Errorf("GetRecord() mismatch (-want +got):\n%s", diff)
	}
	list, err := db.ListRecords(t.Context())
	if err != nil || len(list) != 1 {
		t.Fatalf("ListRecords() = %v, %v; want the record", list, err)
	}
	if diff := cmp.Diff(want, list[0], storetest.IgnoreVersion); diff != "" {
		t.Errorf("ListRecords() mismatch (-want +got):\n%s", diff)
	}
	if got, want := provider.Canonical(got.Outputs), provider.Canonical(spec()); !cmp.Equal(got, want) {
		t.Errorf("outputs are not canonical: %s", cmp.Diff(want, got))
	}
}

package sqlite

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
)

// TestEncodeRecordMatchesJSON checks that encodeRecord writes the bytes
// json.Marshal writes, for records of every shape: strings to escape
// (quotes, HTML characters, control characters, invalid UTF-8, U+2028),
// nested values of every type, floats, times in other zones and out of
// range, empty and nil collections.
func TestEncodeRecordMatchesJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := recordGen().Draw(t, "record")
		want, wantErr := json.Marshal(r)
		got, err := encodeRecord(&r)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("encodeRecord error = %v; json.Marshal error = %v", err, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("encodeRecord:\n%s\njson.Marshal:\n%s", got, want)
		}
	})
}

// TestEncodeRecordKnowsEveryField fails when a field of store.Record (or
// of a struct inside it) is added, removed or retagged: encodeRecord then
// falls back to json.Marshal until it writes the new field too.
func TestEncodeRecordKnowsEveryField(t *testing.T) {
	if diff := unknownFields(); diff != nil {
		t.Errorf("encodeRecord does not write the fields of store.Record: add them to encode.go:\n%s", strings.Join(diff, "\n"))
	}
	if !encoderKnowsRecord {
		t.Errorf("encoderKnowsRecord = false")
	}
}

func TestEncodeRecordExamples(t *testing.T) {
	at := time.Date(2026, 12, 2, 14, 0, 0, 123456789, time.UTC)
	tests := map[string]store.Record{
		"empty":     {},
		"nil maps":  {ID: "a.A/x", AppliedSpec: map[string]any{}, Outputs: nil, Deposed: []store.Instance{{}}},
		"html":      {ID: "a.A/<x>&y", Message: "line\nbreak\t\"quoted\" \\ \u2028 \xff"},
		"float":     {AppliedSpec: map[string]any{"f": 1.5, "big": 1e21, "small": 1e-7, "n": json.Number("12"), "i": int64(-3)}},
		"zone":      {Created: at.In(time.FixedZone("x", 5*3600+1800)), NextRetry: at.In(time.FixedZone("s", 61))},
		"bad year":  {Created: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"NaN":       {AppliedSpec: map[string]any{"x": math.NaN()}},
		"nested":    {Pending: &store.Operation{Op: store.OpCreate, Spec: map[string]any{"a": []any{map[string]any{"b": nil}, []any{}, true}}, Attempted: at, Ambiguous: true}},
		"private":   {Private: map[string]string{"z": "1", "a": "<"}, Deps: []string{"b.B/1", "a.A/2"}},
		"full":      createFlowOutcome(),
		"int types": {AppliedSpec: map[string]any{"i": 7, "u": uint8(3), "s": []string{"x"}}},
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) {
			want, wantErr := json.Marshal(r)
			got, err := encodeRecord(&r)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("encodeRecord error = %v; json.Marshal error = %v", err, wantErr)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encodeRecord:\n%s\njson.Marshal:\n%s", got, want)
			}
		})
	}
}

func createFlowOutcome() store.Record {
	_, out, _ := createFlow(7)
	return out
}

func recordGen() *rapid.Generator[store.Record] {
	str := rapid.OneOf(rapid.SampledFrom([]string{"", "a", "mem.Object/o1", "<&>", "\u2028", "\xff\xfe", "a\"b\\c", "\x00\x1f\x7f", "é"}), rapid.String())
	tm := rapid.Custom(func(t *rapid.T) time.Time {
		switch rapid.IntRange(0, 3).Draw(t, "kind") {
		case 0:
			return time.Time{}
		case 1:
			return time.Unix(rapid.Int64Range(-1e11, 1e11).Draw(t, "s"), rapid.Int64Range(0, 999999999).Draw(t, "ns")).UTC()
		case 2:
			off := rapid.IntRange(-30*3600, 30*3600).Draw(t, "off")
			return time.Unix(rapid.Int64Range(-1e12, 1e12).Draw(t, "s"), 0).In(time.FixedZone("z", off))
		default:
			return time.Date(rapid.IntRange(-2, 10001).Draw(t, "y"), 1, 1, 0, 0, 0, 0, time.UTC)
		}
	})
	var value func(depth int) *rapid.Generator[any]
	value = func(depth int) *rapid.Generator[any] {
		return rapid.Custom(func(t *rapid.T) any {
			n := 7
			if depth > 2 {
				n = 5
			}
			switch rapid.IntRange(0, n).Draw(t, "type") {
			case 0:
				return nil
			case 1:
				return str.Draw(t, "s")
			case 2:
				return rapid.Bool().Draw(t, "b")
			case 3:
				return rapid.Int64().Draw(t, "i")
			case 4:
				return rapid.Float64().Draw(t, "f")
			case 5:
				return json.Number(rapid.SampledFrom([]string{"1", "-2.5", "1e9"}).Draw(t, "n"))
			case 6:
				return rapid.MapOf(str, value(depth+1)).Draw(t, "m")
			default:
				return rapid.SliceOf(value(depth+1)).Draw(t, "l")
			}
		})
	}
	anyMap := rapid.OneOf(rapid.Just[map[string]any](nil), rapid.MapOf(str, value(0)))
	strMap := rapid.OneOf(rapid.Just[map[string]string](nil), rapid.MapOf(str, str))
	return rapid.Custom(func(t *rapid.T) store.Record {
		r := store.Record{
			ID: str.Draw(t, "id"), Kind: str.Draw(t, "kind"), Name: str.Draw(t, "name"),
			Version: rapid.Int64().Draw(t, "version"), Phase: store.Phase(str.Draw(t, "phase")),
			Message: str.Draw(t, "message"), Origin: store.Origin(str.Draw(t, "origin")),
			AppliedSpec: anyMap.Draw(t, "appliedSpec"), AppliedHash: str.Draw(t, "appliedHash"),
			Outputs: anyMap.Draw(t, "outputs"), Private: strMap.Draw(t, "private"),
			Deps: rapid.SliceOf(str).Draw(t, "deps"), DeletionPolicy: str.Draw(t, "deletionPolicy"),
			Revision: str.Draw(t, "revision"), Attempts: rapid.Int().Draw(t, "attempts"),
			Drift: str.Draw(t, "drift"), LastError: str.Draw(t, "lastError"),
			ErrorClass: provider.Class(rapid.IntRange(-1, 6).Draw(t, "errorClass")),
			FailedHash: str.Draw(t, "failedHash"), NextRetry: tm.Draw(t, "nextRetry"),
			Created: tm.Draw(t, "created"), Updated: tm.Draw(t, "updated"), LastReconcile: tm.Draw(t, "lastReconcile"),
		}
		for range rapid.IntRange(0, 2).Draw(t, "conditions") {
			r.Conditions = append(r.Conditions, store.Condition{Type: store.ConditionType(str.Draw(t, "type")),
				Status: store.ConditionStatus(str.Draw(t, "status")), Reason: store.Reason(str.Draw(t, "reason")),
				Message: str.Draw(t, "message"), LastTransitionTime: tm.Draw(t, "ltt")})
		}
		if rapid.Bool().Draw(t, "pending") {
			r.Pending = &store.Operation{Op: store.Op(str.Draw(t, "op")), Key: str.Draw(t, "key"),
				SpecHash: str.Draw(t, "specHash"), Spec: anyMap.Draw(t, "spec"), Started: tm.Draw(t, "started"),
				Ambiguous: rapid.Bool().Draw(t, "ambiguous"), Attempted: tm.Draw(t, "attempted")}
		}
		for range rapid.IntRange(0, 2).Draw(t, "deposed") {
			r.Deposed = append(r.Deposed, store.Instance{Spec: anyMap.Draw(t, "spec"), Outputs: anyMap.Draw(t, "outputs"), Private: strMap.Draw(t, "private")})
		}
		return r
	})
}

// BenchmarkEncodeRecord compares encodeRecord with json.Marshal on the
// outcome record of a create.
func BenchmarkEncodeRecord(b *testing.B) {
	r := createFlowOutcome()
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encodeRecord", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeRecord(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

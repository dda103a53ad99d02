package store

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/convergehq/converge/provider"
)

// TestRecordErrorClass: a record's error class reads back from the names
// states have always kept, and is written the same way.
func TestRecordErrorClass(t *testing.T) {
	for name, want := range map[string]provider.Class{"": provider.ClassRetryable, "retryable": provider.ClassRetryable, "rate-limited": provider.ClassRateLimited, "terminal": provider.ClassTerminal, "conflict": provider.ClassConflict} {
		var r Record
		if err := json.Unmarshal([]byte(`{"id":"a","errorClass":"`+name+`"}`), &r); err != nil || r.ErrorClass != want {
			t.Errorf("errorClass %q reads back as %v, %v; want %v", name, r.ErrorClass, err, want)
		}
		b, err := json.Marshal(Record{ErrorClass: want})
		var back Record
		if err != nil || json.Unmarshal(b, &back) != nil || back.ErrorClass != want {
			t.Errorf("%v: written %s, read back %v; want it unchanged", want, b, back.ErrorClass)
		}
	}
	if b, _ := json.Marshal(Record{ErrorClass: provider.ClassTerminal}); !json.Valid(b) || !strings.Contains(string(b), `"errorClass":"terminal"`) {
		t.Errorf("a terminal class is written %s; want \"errorClass\":\"terminal\"", b)
	}
}

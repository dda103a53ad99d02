package store

import "testing"

func TestRecordOwnership(t *testing.T) {
	tests := map[string]struct {
		reason      string
		r           *Record
		ours        bool
		interrupted bool
	}{
		"nil":                 {reason: "no record: nothing is ours", r: nil},
		"fresh":               {reason: "recorded, nothing made yet", r: &Record{}},
		"created":             {reason: "converge made it", r: &Record{Origin: OriginCreated}, ours: true},
		"adopted":             {reason: "converge took it over", r: &Record{Origin: OriginAdopted}, ours: true},
		"interrupted create":  {reason: "a create may have taken effect", r: &Record{Pending: &Operation{Op: OpCreate}}, ours: true, interrupted: true},
		"create over created": {reason: "a replace's create of an object converge has", r: &Record{Origin: OriginCreated, Pending: &Operation{Op: OpCreate}}, ours: true},
		"pending update":      {reason: "an update is on an object converge has", r: &Record{Origin: OriginCreated, Pending: &Operation{Op: OpUpdate}}, ours: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.r.Ours(); got != tc.ours {
				t.Errorf("Ours() = %v; want %v (%s)", got, tc.ours, tc.reason)
			}
			if got := tc.r.InterruptedCreate(); got != tc.interrupted {
				t.Errorf("InterruptedCreate() = %v; want %v (%s)", got, tc.interrupted, tc.reason)
			}
		})
	}
}

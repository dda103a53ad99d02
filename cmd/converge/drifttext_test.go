package main

import (
	"bytes"
	"testing"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
)

// TestDriftTextLines: each resource's line says what comes next: a
// resource that could not be observed (an Error action) "drift unknown",
// whatever its reason says; one under the alert policy is reported only;
// any other is corrected by the next apply.
func TestDriftTextLines(t *testing.T) {
	rv := &manifest.Revision{Hash: "h", Resources: []*manifest.Resource{
		{ID: "mem.Object/alerted", Kind: "mem.Object", Name: "alerted", Policy: manifest.Policy{Drift: manifest.DriftAlert}},
	}}
	drifted := []plan.Action{
		{Type: plan.Error, ID: "mem.Object/down", Kind: "mem.Object", Name: "down", Reason: "observe: connection refused"},
		{Type: plan.Update, ID: "mem.Object/edited", Kind: "mem.Object", Name: "edited", Drift: true, Diff: diff.Diff{{Path: "value", Old: "b", New: "a"}}},
		{Type: plan.Drift, ID: "mem.Object/alerted", Kind: "mem.Object", Name: "alerted", Diff: diff.Diff{{Path: "value", Old: "b", New: "a"}}},
	}
	var b bytes.Buffer
	writeDriftText(&b, rv, drifted, manifest.DriftCorrect)
	want := "Drift: 2 resources differ from what converge last applied; 1 could not be observed.\n\n" +
		"  mem.Object/down: could not observe: observe: connection refused; drift unknown\n" +
		"  mem.Object/edited: drifted; the next apply or run corrects it\n" +
		"      value: \"b\" -> \"a\"\n" +
		"  mem.Object/alerted: drifted; reported only (policy alert)\n" +
		"      value: \"b\" -> \"a\"\n"
	if got := b.String(); got != want {
		t.Errorf("drift text:\n%s\nwant:\n%s", got, want)
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
)

// TestReportSuggestsAdopt: the report suggests converge adopt for the
// resources that failed as conflicts (by their class, whatever their
// message says), and only for them.
func TestReportSuggestsAdopt(t *testing.T) {
	rep := engine.Report{Revision: "h", Failures: []engine.Failure{
		{ID: "file.File/a", Phase: store.PhaseFailed, Message: "someone else's", Class: provider.ClassConflict},
		{ID: "file.File/b", Phase: store.PhaseFailed, Message: "exists, was not created by converge, and differs (content)", Class: provider.ClassTerminal},
		{ID: "file.File/c", Phase: store.PhaseFailed, Message: "in the way", Class: provider.ClassConflict},
	}}
	var b bytes.Buffer
	printReport(&b, rep, false, nil, colors{})
	want := "To take over the objects in conflict and update them to the manifests: converge adopt file.File/a file.File/c\n"
	if !strings.HasSuffix(b.String(), want) {
		t.Errorf("report:\n%s\nwant it to end with:\n%s", b.String(), want)
	}
}

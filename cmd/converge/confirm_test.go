package main

import (
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestApplyAsksBeforeDeleting: on a terminal, an apply that deletes or
// replaces shows the plan and goes on only on "yes"; --yes, or a standard
// input that is not a terminal, goes on without a question; a plan that
// only creates or updates asks nothing.
func TestApplyAsksBeforeDeleting(t *testing.T) {
	const question = "This apply will delete 1 object. Do you want to perform these actions? Only 'yes' will be accepted: "
	afterDelete := siteTree()
	delete(afterDelete, "site/old.txt")
	tests := map[string]struct {
		stdin      io.Reader
		args       []string
		change     bool // change index's content too: an update, no question of its own
		wantCode   int
		wantStdout []string // in this order
		wantNoAsk  bool
		wantTree   map[string]node
	}{
		"terminal answers no": {
			stdin:      answer("no\n"),
			wantCode:   1,
			wantStdout: []string{"Delete:", "- file.File/old (removed from manifests)", question, "Apply cancelled: nothing was changed."},
			wantTree:   siteTree(),
		},
		"terminal answers y, which is not yes": {
			stdin:      answer("y\n"),
			wantCode:   1,
			wantStdout: []string{question, "Apply cancelled"},
			wantTree:   siteTree(),
		},
		"terminal closes without an answer": {
			stdin:      answer(""),
			wantCode:   1,
			wantStdout: []string{question, "Apply cancelled"},
			wantTree:   siteTree(),
		},
		"terminal answers yes": {
			stdin:      answer("yes\n"),
			wantStdout: []string{"- file.File/old", question, "Apply: 4 resources Ready"},
			wantTree:   afterDelete,
		},
		"terminal, --yes": {
			stdin:      answer(""),
			args:       []string{"--yes"},
			wantStdout: []string{"Apply: 4 resources Ready"},
			wantNoAsk:  true,
			wantTree:   afterDelete,
		},
		"not a terminal": {
			stdin:      strings.NewReader("no\n"),
			wantStdout: []string{"Apply: 4 resources Ready"},
			wantNoAsk:  true,
			wantTree:   afterDelete,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := applied(t)
			e.remove("old.yaml")
			r := cli(tc.stdin, append(append([]string{"apply"}, tc.args...), e.globalArgs()...)...)
			if r.code != tc.wantCode {
				t.Errorf("got exit %d; want %d\n%s", r.code, tc.wantCode, r)
			}
			rest := r.stdout
			for _, want := range tc.wantStdout {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Errorf("stdout lacks %q (or has it out of order)\n%s", want, r)
					break
				}
				rest = rest[i+len(want):]
			}
			if tc.wantNoAsk && strings.Contains(r.stdout, "Do you want") {
				t.Errorf("asked\n%s", r)
			}
			if d := cmp.Diff(tc.wantTree, tree(t, e.root)); d != "" {
				t.Errorf("tree (-want +got):\n%s", d)
			}
		})
	}

	t.Run("terminal, only an update", func(t *testing.T) {
		e := applied(t)
		e.write(map[string]string{"site.yaml": strings.Replace(siteYAML, `content: "hello\n"`, `content: "hello again\n"`, 1)})
		r := cli(answer(""), append([]string{"apply"}, e.globalArgs()...)...)
		if r.code != 0 || strings.Contains(r.stdout, "Do you want") {
			t.Errorf("got exit %d, want 0 without a question\n%s", r.code, r)
		}
	})
}

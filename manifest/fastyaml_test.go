package manifest

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// tree is what the differential tests compare of a yaml.Node: every field
// the loader reads (comments are not compared).
type tree struct {
	Kind         yaml.Kind
	Style        yaml.Style
	Tag, Value   string
	Line, Column int
	Content      []tree
}

func toTree(n *yaml.Node) tree {
	t := tree{Kind: n.Kind, Style: n.Style, Tag: n.Tag, Value: n.Value, Line: n.Line, Column: n.Column}
	for _, c := range n.Content {
		t.Content = append(t.Content, toTree(c))
	}
	return t
}

// v3Docs parses src with yaml.v3 the way the loader does, keeping the
// non-empty documents' roots.
func v3Docs(src string) ([]tree, error) {
	dec := yaml.NewDecoder(strings.NewReader(src))
	var out []tree
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(n.Content) == 0 || isNull(n.Content[0]) {
			continue
		}
		out = append(out, toTree(n.Content[0]))
	}
}

// fastDocs parses src with the fast parser, keeping the same documents.
func fastDocs(p *fastParser, src string) ([]tree, bool) {
	docs, ok := p.parse(src)
	if !ok {
		return nil, false
	}
	var out []tree
	for _, d := range docs {
		if d.Kind != yaml.DocumentNode || len(d.Content) != 1 {
			return nil, false
		}
		if isNull(d.Content[0]) {
			continue
		}
		out = append(out, toTree(d.Content[0]))
	}
	return out, true
}

// checkSame fails t when the fast parser accepts src but yaml.v3 does not,
// or when the two give different trees.
func checkSame(t *testing.T, p *fastParser, src string) (fast bool) {
	t.Helper()
	got, ok := fastDocs(p, src)
	if !ok {
		return false
	}
	want, err := v3Docs(src)
	if err != nil {
		t.Fatalf("fast parser accepted %q; yaml.v3 fails: %v", src, err)
	}
	if reflect.DeepEqual(want, got) {
		return true // cmp.Diff is slow on big trees: only for the message
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("fast parse of %q mismatch (-yaml.v3 +fast):\n%s", src, diff)
	}
	return true
}

func TestFastParserMatchesYAMLv3(t *testing.T) {
	tests := map[string]struct {
		src      string
		wantFast bool // whether the fast path must handle it
	}{
		"manifest":                 {src: "# the page\napiVersion: converge/v1\nkind: file.File\nmetadata:\n  name: index.html\n  labels: {app: site, 'x': \"y\"}\ndependsOn:\n  - file.Directory/www\npolicy:\n  drift: alert   # comment\nspec:\n  path: ${file.Directory/www.outputs.path}/index.html\n  mode: 755\n  content: \"cost: $${not.a/ref}\"\n  args: [a, \"${x}\", 3, -1, 1.5, .5, 0x1F, 1e3, true, ~, null, NULL, 2001-12-14]\n  owner:\n    user: www\n    uid: 1000\n", wantFast: true},
		"documents":                {src: "---\n---\nkind: a\n---   \n\n# only a comment\n---\n- x\n-   y\n", wantFast: true},
		"no trailing newline":      {src: "a: b\nc: [d]", wantFast: true},
		"empty values":             {src: "a:\nb:   # c\n  # x\nc:\n  - \n  -   # c\n  - x\nd:\n- 1\n-\ne: ''\n", wantFast: true},
		"indentless sequence":      {src: "env:\n- name: a\n  value: b\n-   name: c\n    value: [d]\nnext: 1\n", wantFast: true},
		"nested":                   {src: "a:\n    b:\n        c: d\n    e:\n      - f: {g: [h, {i: j}], k: []}\n        l: {}\n", wantFast: true},
		"quoted":                   {src: "a: \"x\\\"y\\\\z\\n\\t\\u00e9\\x41\"\nb: 'it''s'\nc: ''''\nd: \"\"\ne: 'a # not a comment'\n", wantFast: true},
		"plain oddities":           {src: "a: b:c\nd: e#f\ng: h ]i\nj: -k\nl: http://x/y?z=1\nm: 'a' # c\nn: é ü 雪\n", wantFast: true},
		"scalar documents":         {src: "hello\n---\n\"quoted\"\n---\n[1, 2]\n", wantFast: true},
		"keys":                     {src: "1: a\ntrue: b\n.inf: c\na.b/c-d_e: f\nnull: g\n", wantFast: true},
		"merge key":                {src: "a: {<<: {b: 1}}\n", wantFast: true},
		"duplicate keys":           {src: "a: 1\na: 2\n", wantFast: true},
		"block scalar":             {src: "a: |\n  x\n"},
		"anchor":                   {src: "a: &x 1\nb: *x\n"},
		"tag":                      {src: "a: !custom x\n"},
		"multi-line plain":         {src: "a: b\n  c\n"},
		"multi-line flow":          {src: "a: [b,\n  c]\n"},
		"multi-line quoted":        {src: "a: \"b\n  c\"\n"},
		"tab":                      {src: "a:\tb\n"},
		"crlf":                     {src: "a: b\r\n"},
		"directive":                {src: "%YAML 1.2\n---\na: b\n"},
		"document end":             {src: "a: b\n...\n"},
		"complex key":              {src: "? a\n: b\n"},
		"mapping in plain value":   {src: "a: b: c\n"},
		"trailing comma":           {src: "a: [b, ]\n"},
		"over-indented":            {src: "a: b\n  c: d\n"},
		"under-indented":           {src: "a:\n    b: c\n  d: e\n"},
		"invalid":                  {src: "kind: file.File\nmetadata: [\n"},
		"unknown escape":           {src: "a: \"\\q\"\n"},
		"nested sequence":          {src: "- - a\n"},
		"bom":                      {src: "\ufeffa: b\n"},
		"long key":                 {src: strings.Repeat("k", 1100) + ": v\n"},
		"columns after runes":      {src: "a: [ü, {雪: é, k: [x, 'é', \"ü\"]}, z]\nn: {a: é, b: ü}\n", wantFast: true},
		"columns on later lines":   {src: "a: [é, ü]\nb:\n  - [x, é, y]\n  - {é: 1, ü: [2, 3]}\n  -\n  - é\n", wantFast: true},
		"aliases of a long string": {src: "big: &s " + strings.Repeat("x", 5000) + "\ncopies: [*s, *s, *s]\n"},
		"explicit long keys":       {src: "? " + strings.Repeat("k", 2000) + "\n:\n  ? " + strings.Repeat("j", 2000) + "\n  : 1\n"},
		"numbers":                  {src: numbersDoc, wantFast: true},
		"long flow list":           {src: "items: [" + strings.Repeat("a, é, 'b', \"c\", {d: e}, [f], ", 2000) + "z]\n", wantFast: true},
	}
	var p fastParser
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := checkSame(t, &p, tt.src); got != tt.wantFast {
				t.Errorf("fast parser handled %q: %v; want %v", tt.src, got, tt.wantFast)
			}
		})
	}
}

// TestFastParserBenchInput checks the benchmark's manifests take the fast
// path and parse exactly as yaml.v3 parses them.
func TestFastParserBenchInput(t *testing.T) {
	var p fastParser
	for name, data := range benchFiles(2000, 2) {
		if !checkSame(t, &p, string(data)) {
			t.Errorf("%s: fast parser fell back; want the fast path", name)
		}
	}
}

func FuzzFastParser(f *testing.F) {
	seeds := []string{
		"a: b\nc: [d, {e: f}]\n",
		"---\n- x\n-\n  - y\n",
		"a:\n- b: c\n  d: 'e''f'\n",
		"a: \"\\u00e9\\n\"\nb: -1.5e3\nc: 0o17\n",
		"a: b # c\n# d\n  # e\nf:\n",
		dirDoc,
		numbersDoc,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p fastParser
		checkSame(t, &p, string(data))
	})
}

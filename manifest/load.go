package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"gopkg.in/yaml.v3"

	"github.com/convergehq/converge/graph"
	"github.com/convergehq/converge/provider"
)

// Registry is what loading needs to know of the providers: each kind's
// schema, the provider that manages it (for provider.Validator), and every
// kind (to list them when one is unknown, and to know provider names).
// *provider.Registry satisfies it.
type Registry interface {
	Schema(kind string) (provider.Schema, bool)
	For(kind string) (provider.Provider, bool)
	Kinds() []string
}

var _ Registry = (*provider.Registry)(nil)

// Load reads the manifests at paths and validates them as one Revision. A
// path is a file (read whatever its name) or a directory, read recursively
// for .yaml and .yml files, skipping hidden files and directories (.git,
// .converge), following symlinks; see WatchPaths for the directories that
// makes it read. Files are read in sorted order; a file may hold several
// documents, and empty ones are skipped. An empty directory is an empty
// set, not an error. It stays within MaxFileBytes, MaxTotalBytes and
// MaxAliasBytes.
//
// On any problem Load returns a nil Revision and an ErrorList holding every
// problem found, sorted by file and line.
//
// Files are parsed in parallel (GOMAXPROCS at most), so a provider's
// ValidateSpec may be called concurrently for different documents.
func Load(paths []string, reg Registry) (*Revision, error) {
	return Read(paths).Load(reg)
}

// LoadBytes is Load for manifests held in memory, keyed by file name.
// Revision.Paths holds the file names, sorted. The same limits apply.
func LoadBytes(files map[string][]byte, reg Registry) (*Revision, error) {
	list := make([]file, 0, len(files))
	for name, data := range files {
		list = append(list, file{name: name, data: data})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	var errs ErrorList
	left := MaxTotalBytes
	for i, f := range list {
		if e, total := sizeError(f.name, int64(len(f.data)), left); e != nil {
			errs = append(errs, e)
			if total {
				list = list[:i]
				break
			}
			list[i].data = nil // not parsed: its error is enough
			continue
		}
		left -= int64(len(f.data))
	}
	rv, err := load(list, reg, errs)
	if err != nil {
		return nil, err
	}
	rv.Paths = make([]string, len(list))
	for i, f := range list {
		rv.Paths[i] = f.name
	}
	return rv, nil
}

// LoadGraph loads the manifests at paths and draws the dependency graph of
// every resource that could be read, even when there are errors: a cycle
// shows in the graph and in the ErrorList returned alongside it.
func LoadGraph(paths []string, reg Registry) (*graph.Graph, error) {
	files, errs := readPaths(paths)
	l := newLoader(reg, errs)
	l.parseFiles(files)
	l.link()
	if len(l.errs) > 0 {
		return l.graph, l.errorList()
	}
	return l.graph, nil
}

type file struct {
	name string
	data []byte
}

func describeIOError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// load parses and validates files into a Revision.
func load(files []file, reg Registry, errs ErrorList) (*Revision, error) {
	l := newLoader(reg, errs)
	l.parseFiles(files)
	l.link()
	if len(l.errs) > 0 {
		return nil, l.errorList()
	}
	return l.revision(), nil
}

// loader holds what loading found so far.
type loader struct {
	reg      Registry
	known    *knownKinds
	expanded atomic.Int64 // bytes aliases expanded to (MaxAliasBytes)
	errs     ErrorList
	docs     []*doc // resources in file and document order
	cfgs     []*ProviderConfig
	byID     map[string]*doc
	graph    *graph.Graph
	suggests int // suggestIDs made, up to maxSuggestions
}

// maxSuggestions bounds the "did you mean" searches of one load: each
// compares with every resource.
const maxSuggestions = 20

// suggestID returns ": did you mean ID?" for the resource an unknown ID
// most likely means (a typo in its name or its kind, or the same name of
// another kind), or "".
func (l *loader) suggestID(id string) string {
	if l.suggests >= maxSuggestions {
		return ""
	}
	l.suggests++
	kind, name, ok := strings.Cut(id, "/")
	if !ok {
		return ""
	}
	ids := make([]string, 0, len(l.byID))
	for other := range l.byID {
		ids = append(ids, other)
	}
	sort.Strings(ids) // one answer, whatever the map's order
	var sameKind []string
	for _, other := range ids {
		if k, n, _ := strings.Cut(other, "/"); k == kind {
			sameKind = append(sameKind, n)
		}
	}
	if near := provider.Suggest(name, sameKind); near != "" {
		return ": did you mean " + kind + "/" + near + "?"
	}
	if near := provider.Suggest(id, ids); near != "" {
		return ": did you mean " + near + "?"
	}
	for _, other := range ids {
		if _, n, _ := strings.Cut(other, "/"); n == name {
			return ": did you mean " + other + "?"
		}
	}
	return ""
}

func newLoader(reg Registry, errs ErrorList) *loader {
	return &loader{reg: reg, known: newKnownKinds(reg), errs: errs}
}

// fileResult is what parsing one file gives.
type fileResult struct {
	docs []*doc
	errs []*Error
}

// parseFiles parses every file, a few at a time, and keeps the results in
// file order.
func (l *loader) parseFiles(files []file) {
	workers := min(runtime.GOMAXPROCS(0), len(files))
	results := l.parseAll(files, workers)
	if workers > 1 && l.expanded.Load() > MaxAliasBytes {
		// Which file passed MaxAliasBytes, and where, depends on the order
		// the workers ran in: parse again, one file after the other, for
		// the same errors every time.
		results = nil
		l.expanded.Store(0)
		results = l.parseAll(files, 1)
	}
	for _, r := range results {
		l.errs = append(l.errs, r.errs...)
		for _, d := range r.docs {
			if d.cfg != nil {
				l.cfgs = append(l.cfgs, d.cfg)
			} else {
				l.docs = append(l.docs, d)
			}
		}
	}
}

// parseAll parses every file with workers goroutines; the results are in
// file order.
func (l *loader) parseAll(files []file, workers int) []fileResult {
	results := make([]fileResult, len(files))
	if workers <= 1 {
		var p fastParser
		for i, f := range files {
			results[i] = l.parseFile(f, &p)
		}
		return results
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p fastParser
			for i := range next {
				results[i] = l.parseFile(files[i], &p)
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseFile parses every document of f, with p when f is in the subset of
// YAML it reads, else with yaml.v3.
func (l *loader) parseFile(f file, p *fastParser) (out fileResult) {
	if docs, ok := p.parse(string(f.data)); ok {
		for _, n := range docs {
			l.parseDoc(f.name, n, &out)
		}
		return out
	}
	dec := yaml.NewDecoder(bytes.NewReader(f.data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if err == io.EOF {
			return out
		}
		if err != nil {
			e := &Error{File: f.name, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
			if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
				e.Line, _ = strconv.Atoi(m[1])
				e.Msg = "invalid YAML: " + m[2]
				// yaml.v3 numbers its parser's "did not find expected"
				// errors from 0, its scanner's from 1.
				if strings.HasPrefix(m[2], "did not find expected") {
					e.Line++
				}
			}
			if line := tabIndented(f.data, e.Line, err.Error()); line > 0 {
				e.Line, e.Msg = line, "invalid YAML: a tab indents this line; YAML indents with spaces only"
			}
			out.errs = append(out.errs, e)
			return out
		}
		l.parseDoc(f.name, &n, &out)
	}
}

// parseDoc reads the document n of file into out.
func (l *loader) parseDoc(file string, n *yaml.Node, out *fileResult) {
	if len(n.Content) == 0 || isNull(n.Content[0]) {
		return // an empty document
	}
	d := &docParser{file: file, reg: l.reg, known: l.known, expanded: &l.expanded}
	parsed := d.parse(n.Content[0])
	out.errs = append(out.errs, d.errs...)
	if parsed != nil {
		out.docs = append(out.docs, parsed)
	}
}

// link checks what spans documents (duplicate IDs and provider configs,
// dangling dependsOn and references, unknown outputs, cycles) and builds the
// graph of every resource that has an ID.
func (l *loader) link() {
	l.byID = make(map[string]*doc, len(l.docs))
	kept := l.docs[:0]
	for _, d := range l.docs {
		r := d.res
		if r.ID == "" {
			continue
		}
		if first, dup := l.byID[r.ID]; dup {
			l.errs = append(l.errs, &Error{File: r.Source.File, Line: r.Source.Line, Resource: r.ID,
				Msg: fmt.Sprintf("duplicate resource %s (first defined at %s)", r.ID, first.res.Source)})
			continue
		}
		l.byID[r.ID] = d
		kept = append(kept, d)
	}
	l.docs = kept

	cfgs := map[string]*ProviderConfig{}
	for _, c := range l.cfgs {
		if c.Name == "" {
			continue
		}
		if first, dup := cfgs[c.Name]; dup {
			l.errs = append(l.errs, &Error{File: c.Source.File, Line: c.Source.Line, Resource: KindProviderConfig + "/" + c.Name,
				Msg: fmt.Sprintf("duplicate %s for provider %q (first defined at %s)", KindProviderConfig, c.Name, first.Source)})
			continue
		}
		cfgs[c.Name] = c
	}

	g := graph.New()
	edges := 0
	for _, d := range l.docs {
		edges += len(d.res.DependsOn) + len(d.res.Refs)
	}
	g.Grow(len(l.docs), edges)
	for _, d := range l.docs {
		g.AddNode(d.res.ID)
	}
	for _, d := range l.docs {
		r := d.res
		for i, dep := range r.DependsOn {
			src := d.depSrc[i]
			if _, ok := l.byID[dep]; !ok {
				l.errs = append(l.errs, &Error{File: src.File, Line: src.Line, Resource: r.ID, Field: fmt.Sprintf("dependsOn[%d]", i),
					Msg: fmt.Sprintf("no resource %s in the manifests%s", dep, l.suggestID(dep))})
				continue
			}
			g.AddEdge(r.ID, dep, "dependsOn at "+sourceString(src))
		}
		for _, ref := range r.Refs {
			target, ok := l.byID[ref.Target]
			if !ok {
				l.errs = append(l.errs, &Error{File: ref.Source.File, Line: ref.Source.Line, Resource: r.ID, Field: ref.Field,
					Msg: fmt.Sprintf("reference to %s: no such resource in the manifests%s", ref.Target, l.suggestID(ref.Target))})
				continue
			}
			if s, ok := l.reg.Schema(target.res.Kind); ok && !s.HasOutput(ref.Output) {
				l.errs = append(l.errs, &Error{File: ref.Source.File, Line: ref.Source.Line, Resource: r.ID, Field: ref.Field,
					Msg: fmt.Sprintf("reference to %s: kind %s has no output %q (outputs: %s)", ref.Target, target.res.Kind, ref.Output, listOrNone(s.Outputs))})
			}
			g.AddEdge(r.ID, ref.Target, "reference in "+ref.Field+" at "+sourceString(ref.Source))
		}
	}
	for _, c := range g.Cycles() {
		l.errs = append(l.errs, l.cycleError(c))
	}
	l.graph = g
}

// cycleError reports cycle c at the place its first edge comes from.
func (l *loader) cycleError(c graph.Cycle) *Error {
	parts := make([]string, len(c))
	for i, e := range c {
		parts[i] = e.String()
	}
	e := &Error{Resource: c[0].From, Msg: "cycle: " + strings.Join(parts, "; ")}
	d := l.byID[c[0].From]
	e.File, e.Line = d.res.Source.File, d.res.Source.Line
	for i, dep := range d.res.DependsOn {
		if dep == c[0].To {
			e.Line, e.Field = d.depSrc[i].Line, fmt.Sprintf("dependsOn[%d]", i)
			return e
		}
	}
	for _, ref := range d.res.Refs {
		if ref.Target == c[0].To {
			e.Line, e.Field = ref.Source.Line, ref.Field
			return e
		}
	}
	return e
}

// sourceString is Source.String without fmt: it runs for every edge.
func sourceString(s Source) string {
	if s.Line > 0 {
		return s.File + ":" + strconv.Itoa(s.Line)
	}
	return s.File
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// errorList returns every error, sorted by file then line; errors at the
// same place keep the order they were found in.
func (l *loader) errorList() ErrorList {
	sort.SliceStable(l.errs, func(i, j int) bool {
		a, b := l.errs[i], l.errs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return l.errs
}

// revision assembles the validated revision.
func (l *loader) revision() *Revision {
	rv := &Revision{Resources: make([]*Resource, len(l.docs))}
	for i, d := range l.docs {
		rv.Resources[i] = d.res
	}
	sort.Slice(rv.Resources, func(i, j int) bool { return rv.Resources[i].ID < rv.Resources[j].ID })
	hashResources(rv.Resources)
	for _, c := range l.cfgs {
		if rv.ProviderConfigs == nil {
			rv.ProviderConfigs = map[string]ProviderConfig{}
		}
		rv.ProviderConfigs[c.Name] = *c
	}
	rv.Hash = revisionHash(rv)
	rv.index()
	rv.graph = l.graph // with the line of each dependsOn entry
	return rv
}

// knownKinds lists the registered kinds and provider names.
type knownKinds struct {
	kinds     []string
	providers map[string]bool
}

func newKnownKinds(reg Registry) *knownKinds {
	k := &knownKinds{kinds: reg.Kinds(), providers: map[string]bool{}}
	for _, kind := range k.kinds {
		k.providers[provider.ProviderName(kind)] = true
	}
	return k
}

func (k *knownKinds) list() string { return listOrNone(k.kinds) }

func (k *knownKinds) provider(name string) bool { return k.providers[name] }

func (k *knownKinds) providerList() string {
	return listOrNone(provider.SortedKeys(k.providers))
}

// tabIndented returns the line, near the line a YAML error names, whose
// indentation holds a tab, when the error is what a tab causes; 0
// otherwise. The parser reports a tab as a character that cannot start a
// token, sometimes on the line before it.
func tabIndented(data []byte, line int, msg string) int {
	if !strings.Contains(msg, "cannot start any token") && !strings.Contains(msg, "tab character") {
		return 0
	}
	lines := bytes.Split(data, []byte("\n"))
	for _, n := range []int{line, line + 1, line - 1} {
		if n < 1 || n > len(lines) {
			continue
		}
		l := lines[n-1]
		indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
		if bytes.IndexByte(indent, '\t') >= 0 {
			return n
		}
	}
	return 0
}

package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/convergehq/converge/provider"
)

// Kinds managed by the provider.
const (
	KindDirectory = "file.Directory"
	KindFile      = "file.File"
	KindSymlink   = "file.Symlink"
)

// Provider manages directories, files and symbolic links below one root
// directory. Between calls it holds only the root directory open (reopened
// when the root path names another directory, see openRoot) and the
// inotify instance of a running Notify. It is safe for concurrent use on
// different paths; the engine never runs two operations on one resource at
// once.
type Provider struct {
	root      string    // absolute, symbolic links resolved
	held      heldRoot  // the open root (fsops.go)
	watches   watches   // what Notify watches (notify.go)
	leftovers leftovers // temporary files earlier processes left (fsops.go)
}

// New returns a provider confined to root, which is made absolute and has its
// symbolic links resolved. root must exist and be a directory.
func New(root string) (*Provider, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("file provider root %q: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("file provider root %q: %w", root, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("file provider root %q: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("file provider root %q (%s) is not a directory", root, real)
	}
	return &Provider{root: real}, nil
}

// Root returns the absolute, symlink-resolved root directory.
func (p *Provider) Root() string { return p.root }

// Name returns "file".
func (p *Provider) Name() string { return "file" }

// Schemas describes file.Directory, file.File and file.Symlink.
func (p *Provider) Schemas() []provider.Schema {
	path := provider.Field{
		Type:        provider.String,
		Description: "Path of the object: relative to the provider root, or absolute inside it. Changing it replaces the object.",
		Required:    true,
		ForceNew:    true,
		// The canonical form is the cleaned path relative to the root, so
		// "./site/www/" and "site/www" are one object, never a replace.
		Normalize: func(v any) (any, error) {
			s, ok := v.(string)
			if !ok {
				return v, nil
			}
			rel, err := p.clean(s)
			if err != nil {
				return s, nil // ValidateSpec reports it, with the reason
			}
			return filepath.ToSlash(rel), nil
		},
	}
	mode := func(def string) provider.Field {
		return provider.Field{
			Type:        provider.Any,
			Description: "Permission bits as a quoted octal string (\"0644\", \"644\", \"0o644\" and \"2775\" are accepted; the canonical form is 4 digits). Integers are taken as the numeric mode. Default \"" + def + "\".",
			Default:     def,
			Normalize:   NormalizeMode,
		}
	}
	return []provider.Schema{
		{
			Kind: KindDirectory,
			// A new path never collides with the old one: create the new
			// object first, delete the old once dependents moved.
			CreateBeforeDestroy: true,
			Description:         "A directory. Created with its mode; removed only when empty.",
			Fields:              map[string]provider.Field{"path": path, "mode": mode("0755")},
			Outputs:             []string{"path"},
		},
		{
			Kind: KindFile,
			// A new path never collides with the old one: create the new
			// object first, delete the old once dependents moved.
			CreateBeforeDestroy: true,
			Description:         "A regular file with the given content and mode, written atomically.",
			Fields: map[string]provider.Field{
				"path": path,
				"content": {
					Type:        provider.String,
					Description: "The whole content of the file. Default empty.",
					Default:     "",
				},
				"mode": mode("0644"),
			},
			Outputs: []string{"path", "sha256", "size"},
		},
		{
			Kind: KindSymlink,
			// A new path never collides with the old one: create the new
			// object first, delete the old once dependents moved.
			CreateBeforeDestroy: true,
			Description:         "A symbolic link. A changed target replaces the link atomically.",
			Fields: map[string]provider.Field{
				"path": path,
				"target": {
					Type:        provider.String,
					Description: "What the link points to, stored as written: a relative target is relative to the link's directory, as with ln -s. It must resolve inside the root.",
					Required:    true,
				},
			},
			Outputs: []string{"path", "target"},
		},
	}
}

// ValidateSpec reports a path or symlink target that escapes the root, an
// empty path, the root itself used as a path, and content over MaxContent. A symlink target is
// resolved as the kernel would, on the file system as it is now (it reads,
// never writes): a ".." after a name is refused outright, since a link
// created there later could lead it out. Operations check everything again.
// Unknown values and strings holding unresolved references are skipped.
func (p *Provider) ValidateSpec(kind string, spec map[string]any) []provider.FieldError {
	if !known(kind) {
		return []provider.FieldError{{Field: "kind", Msg: fmt.Sprintf("unknown kind %s for the file provider", kind)}}
	}
	var errs []provider.FieldError
	rel, relOK := "", false
	if path, ok := checkable(spec["path"]); ok {
		r, err := p.clean(path)
		if err != nil {
			errs = append(errs, provider.FieldError{Field: "spec.path", Msg: err.Error()})
		} else {
			rel, relOK = r, true
		}
	}
	if content, ok := checkable(spec["content"]); ok && kind == KindFile && len(content) > MaxContent {
		errs = append(errs, provider.FieldError{Field: "spec.content", Msg: contentTooLarge(len(content))})
	}
	if kind == KindSymlink {
		if target, ok := checkable(spec["target"]); ok {
			msg := targetSyntax(target)
			// A relative target can only be resolved from a known path.
			if msg == "" && (relOK || filepath.IsAbs(target)) {
				msg = p.validateTarget(rel, target)
			}
			if msg != "" {
				errs = append(errs, provider.FieldError{Field: "spec.target", Msg: msg})
			}
		}
	}
	return errs
}

// validateTarget resolves a symlink target for ValidateSpec, from the real
// directory of the link at rel ("" when unknown: only absolute targets are
// resolved then), and returns a message when it leads outside the root or
// loops. A file system that cannot be read is taken as empty: operations
// check again.
func (p *Provider) validateTarget(rel, target string) string {
	look := func(string) (entry, error) { return entry{kind: entryAbsent}, nil }
	if r, done, err := p.openRoot(); err == nil {
		defer done()
		live := liveLookup(r, nil)
		look = func(name string) (entry, error) {
			e, err := live(name)
			if err != nil {
				return entry{kind: entryAbsent}, nil
			}
			return e, nil
		}
	}
	dir, overlay := ".", map[string]string{}
	if rel != "" {
		dir = filepath.Dir(rel)
		if res, err := resolve(p.root, ".", dir, look); err == nil && !res.escaped {
			dir = res.rel
		}
		overlay[filepath.Join(dir, filepath.Base(rel))] = target
	}
	res, err := resolve(p.root, dir, target, func(name string) (entry, error) {
		if t, ok := overlay[name]; ok {
			return entry{kind: entryLink, target: t}, nil
		}
		return look(name)
	})
	switch {
	case errors.Is(err, syscall.ELOOP):
		return fmt.Sprintf("target %s loops: more than %d symbolic links to follow", quote(target), maxLinkHops)
	case err != nil:
		return ""
	case res.escaped:
		return p.targetOutside(target, res)
	}
	return ""
}

// checkable returns v as a string to check now: false for absent values,
// non-strings (the schema check reports those), Unknown values and strings
// holding a reference not resolved yet.
func checkable(v any) (string, bool) {
	s, ok := v.(string)
	if !ok || containsRef(s) {
		return "", false
	}
	return s, true
}

func containsRef(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '$' && s[i+1] == '{' {
			return true
		}
	}
	return false
}

func known(kind string) bool {
	return kind == KindDirectory || kind == KindFile || kind == KindSymlink
}

// Observe reads the object at spec.path, or, when the record says converge
// made it elsewhere (req.Private["id"]: a link on the path was retargeted
// since), at that place, with state.path saying where: the path changed,
// which the engine replaces. It returns Exists=false when nothing is there
// (or the parent directory is missing), a conflict error when an object of
// another type is there, and a terminal error when the path leads outside
// the root. It never writes.
func (p *Provider) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	fail := func(err error) (provider.Observation, error) {
		return provider.Observation{}, oneLine(provider.OpFailed(provider.OpObserve, req.ID, err))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	rt := p.opRoot()
	defer rt.close()
	path, loc, err := p.prepare(rt, req)
	if !known(req.Kind) {
		return fail(err)
	}
	if rec, ok, rerr := p.recorded(rt, req); ok && (err != nil || rec.name != loc.name) {
		switch {
		case rerr == nil:
			obs, err := p.observe(ctx, rt, req, rec)
			if err != nil {
				return fail(err)
			}
			if obs.Exists {
				obs.State["path"] = filepath.ToSlash(rec.name)
				return obs, nil
			}
		case !errors.Is(rerr, errNoParent) && !errors.Is(rerr, errGone):
			return fail(rerr)
		}
		// What converge made is gone: look at the path as written.
	}
	if errors.Is(err, errNoParent) {
		return provider.Observation{Exists: false}, nil
	}
	if err != nil {
		return fail(err)
	}
	obs, err := p.observe(ctx, rt, req, loc)
	if err != nil {
		return fail(err)
	}
	if obs.Exists {
		obs.State["path"] = path
	}
	return obs, nil
}

// observe reads the object of req's kind at loc.
func (p *Provider) observe(ctx context.Context, rt *opRoot, req provider.Request, loc location) (provider.Observation, error) {
	var obs provider.Observation
	var err error
	switch req.Kind {
	case KindDirectory:
		obs, err = p.observeDirectory(rt, loc)
	case KindFile:
		// What to compare the file with; an unresolved content compares
		// with nothing.
		want, _ := specString(req.Spec, "content", "")
		obs, err = p.observeFile(ctx, rt, loc, want)
	case KindSymlink:
		obs, err = p.observeSymlink(rt, loc)
	}
	if obs.Exists {
		obs.Private = private(loc)
	}
	return obs, err
}

// Create writes the object described by req.Spec. An object of the right type
// already at the path is overwritten to match, so retrying a create is safe.
// Private["id"] in the result records where the object is (see Observe).
// Errors: conflict (another type at the path), terminal (escape, permission),
// retryable (missing parent, full disk).
func (p *Provider) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	return p.apply(ctx, provider.OpCreate, req)
}

// Update changes the object in place to req.Spec: content and mode for a
// file, mode for a directory, target for a symlink. It is idempotent and
// returns the same errors as Create. Should the path lead elsewhere than
// where converge made the object (a link changed since it was observed), it
// is a retryable error: observing again shows the move.
func (p *Provider) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	return p.apply(ctx, provider.OpUpdate, req)
}

func (p *Provider) apply(ctx context.Context, op provider.Op, req provider.Request) (provider.Result, error) {
	fail := func(err error) (provider.Result, error) {
		return provider.Result{}, oneLine(provider.OpFailed(op, req.ID, err))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	rt := p.opRoot()
	defer rt.close()
	_, loc, err := p.prepare(rt, req)
	if err != nil {
		return fail(err)
	}
	if rec, ok, rerr := p.recorded(rt, req); op == provider.OpUpdate && ok && (rerr != nil || rec.name != loc.name) {
		return fail(provider.Retryable(fmt.Errorf("%s now leads to %s, not where converge made the object (%s); observing it again",
			show(loc.rel), show(filepath.ToSlash(loc.name)), show(req.Private[privateID]))))
	}
	var out map[string]any
	switch req.Kind {
	case KindDirectory:
		out, err = p.applyDirectory(rt, loc, req.Spec)
	case KindFile:
		out, err = p.applyFile(rt, loc, req.Spec)
	case KindSymlink:
		out, err = p.applySymlink(rt, loc, req.Spec)
	}
	if err != nil {
		return fail(err)
	}
	return provider.Result{Outputs: out, Private: private(loc)}, nil
}

// Delete removes the object converge made: where the record says it is
// (req.Private["id"]), else at spec.path. Nothing there (or no parent) is
// success. A directory is never removed recursively: the temporary files
// converge left in it go, and anything else in it makes a terminal error
// naming it. An object of another type than declared is a conflict and is
// left alone.
func (p *Provider) Delete(ctx context.Context, req provider.Request) error {
	fail := func(err error) error { return oneLine(provider.OpFailed(provider.OpDelete, req.ID, err)) }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	rt := p.opRoot()
	defer rt.close()
	_, loc, err := p.prepare(rt, req)
	if rec, ok, rerr := p.recorded(rt, req); ok && known(req.Kind) {
		// Never the path as written: after a move it leads to the new
		// object, and this may be the delete of the replaced one.
		loc, err = rec, rerr
	}
	if errors.Is(err, errNoParent) || errors.Is(err, errGone) {
		return nil
	}
	if err != nil {
		return fail(err)
	}
	if err := p.remove(rt, req.Kind, loc); err != nil {
		return fail(err)
	}
	return nil
}

// privateID is the key of Private that records where an object is: its
// real path relative to the root (every symbolic link in its parent
// resolved), with forward slashes. The engine takes two objects with one id
// for the same object: a replace onto a path that leads to the very object
// does not delete it.
const privateID = "id"

func private(loc location) map[string]string {
	return map[string]string{privateID: filepath.ToSlash(loc.name)}
}

// errGone is the object converge recorded being gone with its directory:
// where it was is no longer a real directory (a link replaced it).
var errGone = errors.New("the directory the object was made in is gone")

// recorded locates the object req's record names (ok=false when it names
// none: no record, or one from before ids). A missing parent is
// errNoParent, a directory replaced by a link errGone.
func (p *Provider) recorded(rt *opRoot, req provider.Request) (loc location, ok bool, err error) {
	id := req.Private[privateID]
	if id == "" {
		return location{}, false, nil
	}
	name := filepath.Clean(filepath.FromSlash(id))
	loc, err = p.locateIn(rt, name)
	if err == nil && loc.name != name {
		return location{}, true, errGone
	}
	return loc, true, err
}

// prepare checks the kind and locates spec.path.
func (p *Provider) prepare(rt *opRoot, req provider.Request) (string, location, error) {
	if !known(req.Kind) {
		return "", location{}, provider.Terminalf("unknown kind %s for the file provider", req.Kind)
	}
	path, err := specString(req.Spec, "path", "")
	if err != nil {
		return "", location{}, err
	}
	loc, err := p.locateIn(rt, path)
	return path, loc, err
}

// specString returns spec[name] as a string, def when absent. An unresolved
// or mistyped value is terminal: the spec must change.
func specString(spec map[string]any, name, def string) (string, error) {
	v, ok := spec[name]
	if !ok || v == nil {
		return def, nil
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case provider.Unknown:
		return "", provider.Terminalf("spec.%s: %s is not resolved yet", name, x.Expr)
	}
	return "", provider.Terminalf("spec.%s: must be a string, got %T", name, v)
}

// specMode returns spec.mode (def when absent) as octal bits.
func specMode(spec map[string]any, def string) (uint32, error) {
	v, ok := spec["mode"]
	if !ok || v == nil {
		v = def
	}
	m, err := parseMode(v)
	if err != nil {
		return 0, provider.Terminal(fmt.Errorf("spec.mode: %w", err))
	}
	return m, nil
}

// Interface guards.
var (
	_ provider.Provider  = (*Provider)(nil)
	_ provider.Validator = (*Provider)(nil)
)

package httpprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/rest"
	"github.com/convergehq/converge/secret"
)

// DefaultGrace is how long after a create a 404 on the read of the new
// object is taken as read-after-write lag rather than absence.
const DefaultGrace = 10 * time.Second

// Keys of Private.
const (
	PrivateID      = "id"      // the object's id in the collection
	PrivateCreated = "created" // when converge created it, RFC 3339
)

// Provider manages http.Resource objects. It is safe for concurrent use;
// it holds no per-resource state, only the pauses that 429 answers asked
// for, per host.
type Provider struct {
	client         *http.Client
	now            func() time.Time
	grace          time.Duration
	lookupEnv      func(string) (string, bool)
	gate           hostGate
	rest.Redirects // the redirect policy, set by Configure
}

// Option configures a Provider.
type Option func(*Provider)

// WithClient sets the HTTP client (default: a client with no timeout of its
// own; every call is bounded by the context the engine gives it). Its
// CheckRedirect is replaced: redirects follow the provider's policy (see
// Configure).
func WithClient(c *http.Client) Option { return func(p *Provider) { p.client = c } }

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(p *Provider) { p.now = now } }

// WithGrace sets the read-after-write grace period (default DefaultGrace).
func WithGrace(d time.Duration) Option { return func(p *Provider) { p.grace = d } }

// WithLookupEnv sets how ${env:NAME} in headers is expanded (default
// os.LookupEnv).
func WithLookupEnv(f func(string) (string, bool)) Option {
	return func(p *Provider) { p.lookupEnv = f }
}

// New returns an http provider.
func New(opts ...Option) *Provider {
	p := &Provider{client: rest.NewClient(), now: time.Now, grace: DefaultGrace, lookupEnv: osLookupEnv}
	for _, o := range opts {
		o(p)
	}
	p.client = rest.WithRedirects(p.client, p.Policy)
	return p
}

var (
	_ provider.Provider   = (*Provider)(nil)
	_ provider.Validator  = (*Provider)(nil)
	_ provider.Configurer = (*Provider)(nil)
)

// Name returns "http".
func (p *Provider) Name() string { return "http" }

// Schemas describes http.Resource.
func (p *Provider) Schemas() []provider.Schema {
	s := schema()
	// After an ambiguous create, the engine gives the object as long to
	// show up as this provider trusts a create it saw succeed.
	s.ReadAfterWriteGrace = p.grace
	return []provider.Schema{s}
}

// target is one resource's spec with its headers expanded for this call.
type target struct {
	spec
	headers map[string]string
	red     *secret.Redactor // header values, their variables, the URL's password
}

func (p *Provider) target(req provider.Request) (target, error) {
	s, err := parseSpec(req.Spec)
	if err != nil {
		return target{}, err
	}
	hs, secrets, err := expandHeaders(s.headers, p.lookupEnv)
	if err != nil {
		return target{}, err
	}
	if pw, ok := s.url.User.Password(); ok {
		secrets = append(secrets, pw, s.url.User.String())
	}
	return target{spec: s, headers: hs, red: secret.New(secrets...)}, nil
}

func (t target) call(method, u string) call {
	return call{method: method, url: u, headers: t.headers, red: t.red}
}

// itemURL is the URL of the object id in the collection: the id is one
// path segment, escaped ("a/b" is "a%2Fb").
func (t target) itemURL(id string) string {
	return t.url.JoinPath(url.PathEscape(id)).String()
}

// Observe reads the object. With a recorded id it GETs url/{id}: 404 is
// absent, unless converge created the object less than the grace period
// ago (then it exists, not ready: the API has not caught up). Without an id
// and with adoptBy, it lists the collection and returns the one object
// whose adoptBy field matches, with its id in Private, so the engine can
// adopt it. Observe only sends GET requests.
//
// Errors: terminal (bad spec, missing environment variable, 4xx, two
// matching objects is a conflict), rate limited (429), retryable (5xx,
// transport).
func (p *Provider) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	t, err := p.target(req)
	if err != nil {
		return provider.Observation{}, provider.OpFailed(provider.OpObserve, req.ID, err)
	}
	id := req.Private[PrivateID]
	if id == "" {
		if t.adoptBy == "" {
			return provider.Observation{Exists: false}, nil
		}
		obj, id, err := p.find(ctx, t)
		if err != nil {
			return provider.Observation{}, provider.OpFailed(provider.OpObserve, req.ID, err)
		}
		if obj == nil {
			return provider.Observation{Exists: false}, nil
		}
		return p.observation(req, t, obj, map[string]string{PrivateID: id}), nil
	}
	c := t.call(http.MethodGet, t.itemURL(id))
	r, err := p.do(ctx, c)
	if err != nil {
		return provider.Observation{}, provider.OpFailed(provider.OpObserve, req.ID, err)
	}
	if r.status == http.StatusNotFound || r.status == http.StatusGone {
		if p.withinGrace(req.Private) {
			return provider.Observation{
				Exists:   true,
				State:    stateOf(req.Spec, t, nil),
				Outputs:  req.Outputs,
				Private:  req.Private,
				NotReady: "waiting for the API to show the new object",
			}, nil
		}
		return provider.Observation{Exists: false}, nil
	}
	if err := p.statusError(c, r); err != nil {
		return provider.Observation{}, provider.OpFailed(provider.OpObserve, req.ID, err)
	}
	obj, err := object(c, r)
	if err != nil {
		return provider.Observation{}, provider.OpFailed(provider.OpObserve, req.ID, err)
	}
	private := map[string]string{PrivateID: id}
	if created, ok := req.Private[PrivateCreated]; ok {
		// Kept, so the record does not change when the object shows up.
		private[PrivateCreated] = created
	}
	return p.observation(req, t, obj, private), nil
}

// withinGrace reports whether private records a create less than the grace
// period ago.
func (p *Provider) withinGrace(private map[string]string) bool {
	created, err := time.Parse(time.RFC3339Nano, private[PrivateCreated])
	if err != nil {
		return false
	}
	return p.now().Sub(created) < p.grace
}

// observation describes an object that exists.
func (p *Provider) observation(req provider.Request, t target, obj map[string]any, private map[string]string) provider.Observation {
	return provider.Observation{
		Exists:   true,
		State:    stateOf(req.Spec, t, obj),
		Outputs:  obj,
		Private:  private,
		NotReady: t.notReady(obj),
	}
}

// stateOf returns the observed state in the spec's shape: the settings
// converge holds (url, idField, updateMethod, adoptBy, readyWhen) as in
// spec, and body as observed, restricted to the keys spec.body declares
// (recursively through nested objects). headers cannot be observed and are
// absent. A nil obj stands for "as requested" (an object the API does not
// show yet).
func stateOf(spec map[string]any, t target, obj map[string]any) map[string]any {
	st := map[string]any{}
	for _, k := range []string{"url", "idField", "updateMethod", "adoptBy", "readyWhen"} {
		if v, ok := spec[k]; ok {
			st[k] = v
		}
	}
	if obj == nil {
		st["body"] = t.body
	} else {
		st["body"] = restrict(obj, t.body)
	}
	return st
}

// restrict returns the keys of have that want declares; nested objects
// declared as objects are restricted the same way.
func restrict(have, want map[string]any) map[string]any {
	out := make(map[string]any, len(want))
	for k, w := range want {
		h, ok := have[k]
		if !ok {
			continue
		}
		wm, wok := w.(map[string]any)
		hm, hok := h.(map[string]any)
		if wok && hok {
			h = restrict(hm, wm)
		}
		out[k] = h
	}
	return out
}

// notReady says why obj does not meet readyWhen, or "" when it does (or
// there is no readyWhen).
func (t target) notReady(obj map[string]any) string {
	if !t.hasReady {
		return ""
	}
	v, ok := lookup(obj, t.readyField)
	if !ok {
		return fmt.Sprintf("%s is not set yet, waiting for %v", t.readyField, t.readyEquals)
	}
	if reflect.DeepEqual(provider.Canonical(v), t.readyEquals) {
		return ""
	}
	// The value is the server's: shown printable, without secrets.
	return fmt.Sprintf("%s is %s, waiting for %v", t.readyField, rest.Truncate(t.red.Redact(fmt.Sprint(v))), t.readyEquals)
}

// lookup returns the value at a dotted path in obj.
func lookup(obj map[string]any, path string) (any, bool) {
	var cur any = obj
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// idOf returns the object's id as a string.
func (t target) idOf(obj map[string]any) (string, bool) {
	v, ok := lookup(obj, t.idField)
	if !ok {
		return "", false
	}
	switch x := v.(type) {
	case string:
		// "." and ".." would not name one object below the collection.
		return x, x != "" && x != "." && x != ".."
	case int64:
		return strconv.FormatInt(x, 10), true
	case json.Number: // beyond int64, exactly
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// object decodes a response holding one JSON object. A body that is not one
// is terminal: the API does not speak the protocol this provider expects.
func object(c call, r *response) (map[string]any, error) {
	v, err := decodeJSON(r.body)
	if err != nil {
		return nil, provider.Terminal(fmt.Errorf("%s: response is not JSON: %s", c.where(), c.text(err.Error())))
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, provider.Terminal(fmt.Errorf("%s: response is not a JSON object", c.where()))
	}
	return obj, nil
}

// find lists the collection and returns the one object whose adoptBy field
// equals the desired body's, and its id; nil when there is none. Two
// matches are a conflict: converge will not pick one.
func (p *Provider) find(ctx context.Context, t target) (map[string]any, string, error) {
	c := t.call(http.MethodGet, t.url.String())
	r, err := p.do(ctx, c)
	if err != nil {
		return nil, "", fmt.Errorf("list: %w", err)
	}
	if err := p.statusError(c, r); err != nil {
		return nil, "", fmt.Errorf("list: %w", err)
	}
	v, err := decodeJSON(r.body)
	if err != nil {
		return nil, "", provider.Terminal(fmt.Errorf("list: %s: response is not JSON: %s", c.where(), c.text(err.Error())))
	}
	items, ok := v.([]any)
	if env, isObj := v.(map[string]any); isObj {
		items, ok = env["items"].([]any)
	}
	if !ok {
		return nil, "", provider.Terminal(fmt.Errorf("list: %s: response is neither a JSON array nor an object with an items array", c.where()))
	}
	want := provider.Canonical(t.body[t.adoptBy])
	var match map[string]any
	n := 0
	for _, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			continue
		}
		if got, ok := obj[t.adoptBy]; ok && reflect.DeepEqual(got, want) {
			match = obj
			n++
		}
	}
	switch {
	case n == 0:
		return nil, "", nil
	case n > 1:
		return nil, "", provider.Conflictf("list: %s: %d objects have %s=%s: not choosing one to adopt", c.where(), n, t.adoptBy, c.text(fmt.Sprint(want)))
	}
	id, ok := t.idOf(match)
	if !ok {
		return nil, "", provider.Terminal(fmt.Errorf("list: %s: the object with %s=%s has no %s", c.where(), t.adoptBy, c.text(fmt.Sprint(want)), t.idField))
	}
	return match, id, nil
}

// Create POSTs spec.body to the collection with an Idempotency-Key header
// (req.IdempotencyKey, the same for every retry of one logical create).
// With adoptBy, it first lists the collection and returns a matching object
// instead of creating a second one, and it adopts the match after a 409.
// The result's Private holds the id and the time of the create.
//
// Errors: conflict (409 and nothing to adopt, or two matches), terminal
// (bad spec, 4xx, a response without the id), rate limited (429),
// retryable (5xx, transport).
func (p *Provider) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	t, err := p.target(req)
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, err)
	}
	if t.adoptBy != "" {
		obj, id, err := p.find(ctx, t)
		if err != nil {
			return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, err)
		}
		if obj != nil {
			return provider.Result{Outputs: obj, Private: map[string]string{PrivateID: id}, NotReady: t.notReady(obj)}, nil
		}
	}
	c := t.call(http.MethodPost, t.url.String())
	c.body = t.body
	c.idemKey = req.IdempotencyKey
	r, err := p.do(ctx, c)
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, err)
	}
	if r.status == http.StatusConflict {
		if t.adoptBy != "" {
			obj, id, err := p.find(ctx, t)
			if err != nil {
				return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, fmt.Errorf("after 409: %w", err))
			}
			if obj != nil {
				return provider.Result{Outputs: obj, Private: map[string]string{PrivateID: id}, NotReady: t.notReady(obj)}, nil
			}
		}
		return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID,
			provider.Conflictf("%s: %s%s", c.where(), rest.StatusText(r.status), serverMessage(r, t.red)))
	}
	if err := p.statusError(c, r); err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, err)
	}
	obj, err := object(c, r)
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, err)
	}
	id, ok := t.idOf(obj)
	if !ok {
		return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID,
			provider.Terminalf("%s: the created object has no %s field: set spec.idField", c.where(), t.idField))
	}
	return provider.Result{
		Outputs:  obj,
		Private:  map[string]string{PrivateID: id, PrivateCreated: p.now().UTC().Format(time.RFC3339Nano)},
		NotReady: t.notReady(obj),
	}, nil
}

// Update sends spec.body to url/{id} with spec.updateMethod (PUT or PATCH).
// The response's object is the new outputs; an empty response keeps the
// previous outputs with the body's fields written over them. Idempotent.
//
// Errors: as Create; a 404 or 409 is retryable (the engine observes again
// before the next attempt, and creates the object if it is gone).
func (p *Provider) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	t, err := p.target(req)
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, err)
	}
	id := req.Private[PrivateID]
	if id == "" {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, provider.Terminalf("no id recorded for the object"))
	}
	c := t.call(t.updateMethod, t.itemURL(id))
	c.body = t.body
	r, err := p.do(ctx, c)
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, err)
	}
	if r.status == http.StatusNotFound || r.status == http.StatusConflict {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID,
			provider.Retryable(fmt.Errorf("%s: %s%s", c.where(), rest.StatusText(r.status), serverMessage(r, t.red))))
	}
	if err := p.statusError(c, r); err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, err)
	}
	private := map[string]string{PrivateID: id}
	if created, ok := req.Private[PrivateCreated]; ok {
		private[PrivateCreated] = created
	}
	var obj map[string]any
	if len(strings.TrimSpace(string(r.body))) == 0 {
		obj = make(map[string]any, len(req.Outputs)+len(t.body))
		for k, v := range req.Outputs {
			obj[k] = v
		}
		for k, v := range t.body {
			obj[k] = v
		}
	} else if obj, err = object(c, r); err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, err)
	}
	return provider.Result{Outputs: obj, Private: private, NotReady: t.notReady(obj)}, nil
}

// Delete DELETEs url/{id}; 404 and 410 mean already gone. Without a
// recorded id (a create interrupted before its answer was recorded) and
// with adoptBy, the object is found by listing; without either there is
// nothing converge can find, and Delete succeeds.
//
// Errors: terminal (4xx other than 404, 409, 410), rate limited (429),
// retryable (5xx, 409 such as "still has dependents", transport).
func (p *Provider) Delete(ctx context.Context, req provider.Request) error {
	t, err := p.target(req)
	if err != nil {
		return provider.OpFailed(provider.OpDelete, req.ID, err)
	}
	id := req.Private[PrivateID]
	if id == "" && t.adoptBy != "" {
		obj, found, err := p.find(ctx, t)
		if err != nil {
			return provider.OpFailed(provider.OpDelete, req.ID, err)
		}
		if obj != nil {
			id = found
		}
	}
	if id == "" {
		return nil
	}
	c := t.call(http.MethodDelete, t.itemURL(id))
	r, err := p.do(ctx, c)
	if err != nil {
		return provider.OpFailed(provider.OpDelete, req.ID, err)
	}
	switch r.status {
	case http.StatusNotFound, http.StatusGone:
		return nil
	case http.StatusConflict:
		return provider.OpFailed(provider.OpDelete, req.ID,
			provider.Retryable(fmt.Errorf("%s: %s%s", c.where(), rest.StatusText(r.status), serverMessage(r, t.red))))
	}
	if err := p.statusError(c, r); err != nil {
		return provider.OpFailed(provider.OpDelete, req.ID, err)
	}
	return nil
}

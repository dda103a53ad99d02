package cloud

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
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
	PrivateID      = "id"      // the object's id in the API
	PrivateCreated = "created" // when converge created it, RFC 3339
	// PrivateWritten is the object's updatedAt as converge's last create or
	// update left it: a read showing an older version is stale.
	PrivateWritten = "written"
)

// Provider manages the cloud.* kinds against one API endpoint. It is safe
// for concurrent use and holds no per-resource state.
type Provider struct {
	fallback  string                 // New's base URL, "http://127.0.0.1:9000", no trailing slash
	base      atomic.Pointer[string] // spec.config.baseURL when set (see Configure), else fallback
	client    *http.Client
	now       func() time.Time
	grace     time.Duration
	red       *secret.Redactor // the passwords of every base URL it was given
	redirects rest.Redirects   // the redirect policy, set by Configure
}

// Option configures a Provider.
type Option func(*Provider)

// WithHTTPClient sets the HTTP client (default: a client with no timeout of
// its own; every call is bounded by the context the engine gives it). Its
// CheckRedirect is replaced: redirects follow the provider's policy (see
// Configure).
func WithHTTPClient(c *http.Client) Option { return func(p *Provider) { p.client = c } }

// WithClock sets the clock used for the grace period and Retry-After dates
// (default time.Now).
func WithClock(now func() time.Time) Option { return func(p *Provider) { p.now = now } }

// WithGrace sets the read-after-write grace period (default DefaultGrace).
// It should exceed the API's read lag.
func WithGrace(d time.Duration) Option { return func(p *Provider) { p.grace = d } }

// New returns a provider for the API at baseURL (the part before /v1, such
// as "http://127.0.0.1:9000").
func New(baseURL string, opts ...Option) *Provider {
	p := &Provider{fallback: strings.TrimRight(baseURL, "/"), client: rest.NewClient(), now: time.Now, grace: DefaultGrace}
	for _, o := range opts {
		o(p)
	}
	p.client = rest.WithRedirects(p.client, p.redirects.Policy)
	p.red = secret.New()
	p.learnPassword(p.fallback)
	p.base.Store(&p.fallback)
	return p
}

var (
	_ provider.Provider      = (*Provider)(nil)
	_ provider.Configurer    = (*Provider)(nil)
	_ provider.ConfigSchemer = (*Provider)(nil)
)

// learnPassword keeps the password of base URL u out of every message.
func (p *Provider) learnPassword(u string) {
	if pu, err := url.Parse(u); err == nil {
		if pw, ok := pu.User.Password(); ok {
			userPass := pu.User.Username() + ":" + pw
			p.red.Add(pw, userPass, "Basic "+base64.StdEncoding.EncodeToString([]byte(userPass)))
		}
	}
}

// ConfigSchema describes spec.config: baseURL, the API's base URL (the
// part before /v1), which overrides the one given to New.
func (p *Provider) ConfigSchema() provider.Schema {
	return provider.Schema{
		Description: "settings of the cloud provider",
		Fields: map[string]provider.Field{
			"baseURL": {Type: provider.String, Description: "base URL of the cloud API (the part before /v1), such as http://127.0.0.1:9000; default: the one the provider was made with (--cloud-url)", Validate: func(v any) error {
				return checkBaseURL(v.(string))
			}},
		},
	}
}

// checkBaseURL returns an error unless u is an http or https URL with a
// host. The error does not show u: it may hold a password.
func checkBaseURL(u string) error {
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme != "http" && pu.Scheme != "https" || pu.Host == "" {
		return fmt.Errorf("must be an http or https URL such as http://127.0.0.1:9000")
	}
	return nil
}

// Configure takes the redirect policy and spec.config.baseURL of the
// ProviderConfig; without a baseURL, the base URL given to New. It may run
// while calls are in flight: each call uses the base URL of when it
// started. It returns an error, and changes nothing, when a setting is
// invalid.
func (p *Provider) Configure(s provider.Settings) error {
	base := p.fallback
	if v, ok := s.Config["baseURL"]; ok {
		str, _ := v.(string)
		if err := checkBaseURL(str); err != nil {
			return fmt.Errorf("spec.config.baseURL: %w", err)
		}
		base = strings.TrimRight(str, "/")
		p.learnPassword(base)
	}
	if err := p.redirects.Configure(s); err != nil {
		return err
	}
	p.base.Store(&base)
	return nil
}

// baseURL is the base URL calls go to now.
func (p *Provider) baseURL() string { return *p.base.Load() }

// Name returns "cloud".
func (p *Provider) Name() string { return "cloud" }

// Schemas describes every cloud.* kind, in dependency order.
func (p *Provider) Schemas() []provider.Schema {
	out := make([]provider.Schema, len(kinds))
	for i, k := range kinds {
		out[i] = k.schema
		// After an ambiguous create, the engine gives the object as long to
		// show up as this provider trusts a create it saw succeed.
		out[i].ReadAfterWriteGrace = p.grace
	}
	return out
}

// target is one request's kind and object name, and where its objects live.
type target struct {
	*kind
	name string
	coll string // collection URL
}

func (p *Provider) target(req provider.Request) (target, error) {
	k, ok := kindsByName[req.Kind]
	if !ok {
		return target{}, provider.Terminalf("kind %s is not managed by the cloud provider", req.Kind)
	}
	name := req.Name
	if s, ok := req.Spec["name"].(string); ok && s != "" {
		name = s
	}
	return target{kind: k, name: name, coll: p.baseURL() + "/v1/" + k.collection}, nil
}

func (t target) itemURL(id string) string { return t.coll + "/" + url.PathEscape(id) }

// body returns the fields of spec to send: those named (every schema field
// when names is nil) that spec sets, with the name filled in.
func (t target) body(spec map[string]any, names []string) map[string]any {
	if names == nil {
		names = t.schema.FieldNames()
	}
	out := make(map[string]any, len(names))
	for _, n := range names {
		if v, ok := spec[n]; ok && v != nil {
			out[n] = v
		}
	}
	out["name"] = t.name
	return out
}

// Observe reads the object. With a recorded id it GETs it: 404 is absent,
// unless converge created the object less than the grace period ago (then
// it exists, not ready: the API has not caught up). Without an id (a
// resource never created, or a create whose outcome is unknown) it lists
// the objects with the resource's name and returns the one it finds, with
// its id in Private, so that the engine adopts it. An object that is not
// running yet is NotReady. Observe only sends GET requests.
//
// Errors: conflict (two live objects with the name), terminal (unknown
// kind, 4xx), rate limited (429), retryable (5xx, transport).
func (p *Provider) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	t, err := p.target(req)
	if err != nil {
		return provider.Observation{}, provider.OpFailed(provider.OpObserve, req.ID, err)
	}
	id := req.Private[PrivateID]
	if id == "" {
		obj, err := p.find(ctx, t)
		if err != nil {
			return provider.Observation{}, provider.OpFailed(provider.OpObserve, req.ID, err)
		}
		if obj == nil {
			return provider.Observation{Exists: false}, nil
		}
		return t.observation(obj, map[string]string{PrivateID: obj["id"].(string)}), nil
	}
	r, err := p.do(ctx, http.MethodGet, t.itemURL(id), nil, "")
	if err != nil {
		return provider.Observation{}, provider.OpFailed(provider.OpObserve, req.ID, err)
	}
	if r.status == http.StatusNotFound {
		if p.withinGrace(req.Private) {
			return provider.Observation{
				Exists:   true,
				State:    t.state(t.body(req.Spec, nil)),
				Outputs:  req.Outputs,
				Private:  req.Private,
				NotReady: fmt.Sprintf("waiting for the API to show the new object %s", rest.Printable(id)),
			}, nil
		}
		return provider.Observation{Exists: false}, nil
	}
	if err := r.err(p.now()); err != nil {
		return provider.Observation{}, provider.OpFailed(provider.OpObserve, req.ID, err)
	}
	obj, err := r.object()
	if err != nil {
		return provider.Observation{}, provider.OpFailed(provider.OpObserve, req.ID, err)
	}
	if stale(obj, req.Private) {
		// The API shows a version older than our last write: it has not
		// caught up. What we wrote is what is there; it is not drift.
		return provider.Observation{
			Exists:   true,
			State:    t.state(t.body(req.Spec, nil)),
			Outputs:  req.Outputs,
			Private:  req.Private,
			NotReady: notReady(req.Outputs),
		}, nil
	}
	return t.observation(obj, keepPrivate(req.Private, obj)), nil
}

// keepPrivate returns the Private of obj: its id, and what converge
// recorded of its own writes, so the record does not change when the
// object shows up.
func keepPrivate(prev map[string]string, obj map[string]any) map[string]string {
	private := map[string]string{PrivateID: obj["id"].(string)}
	for _, k := range []string{PrivateCreated, PrivateWritten} {
		if v, ok := prev[k]; ok {
			private[k] = v
		}
	}
	return private
}

// written records obj's version in private, as converge's last write.
func written(private map[string]string, obj map[string]any) map[string]string {
	if v, ok := obj["updatedAt"].(string); ok && v != "" {
		private[PrivateWritten] = v
	}
	return private
}

// stale reports whether obj is older than converge's last write of it.
func stale(obj map[string]any, private map[string]string) bool {
	w, err := time.Parse(time.RFC3339Nano, private[PrivateWritten])
	if err != nil {
		return false
	}
	s, _ := obj["updatedAt"].(string)
	u, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && u.Before(w)
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
func (t target) observation(obj map[string]any, private map[string]string) provider.Observation {
	return provider.Observation{
		Exists:   true,
		State:    t.state(obj),
		Outputs:  t.outputsOf(obj),
		Private:  private,
		NotReady: notReady(obj),
	}
}

// state returns the spec fields of obj.
func (t target) state(obj map[string]any) map[string]any {
	st := make(map[string]any, len(t.schema.Fields))
	for name := range t.schema.Fields {
		if v, ok := obj[name]; ok {
			st[name] = v
		}
	}
	return st
}

// outputsOf returns the declared outputs obj has.
func (t target) outputsOf(obj map[string]any) map[string]any {
	out := make(map[string]any, len(t.schema.Outputs))
	for _, name := range t.schema.Outputs {
		if v, ok := obj[name]; ok {
			out[name] = v
		}
	}
	return out
}

// notReady says why obj is not ready ("" when it is running).
func notReady(obj map[string]any) string {
	st, _ := obj["state"].(string)
	if st == "running" || obj == nil {
		return ""
	}
	if st == "" {
		st = "not reported"
	}
	// Both are the server's: shown printable.
	return fmt.Sprintf("%s is %s, waiting for running", rest.Truncate(fmt.Sprint(obj["id"])), rest.Truncate(st))
}

// find lists the live objects named t.name and returns the one there is,
// nil when there is none. Two or more are a conflict: converge will not
// pick one.
func (p *Provider) find(ctx context.Context, t target) (map[string]any, error) {
	u := t.coll + "?name=" + url.QueryEscape(t.name)
	r, err := p.do(ctx, http.MethodGet, u, nil, "")
	if err != nil {
		return nil, fmt.Errorf("find by name: %w", err)
	}
	if err := r.err(p.now()); err != nil {
		return nil, fmt.Errorf("find by name: %w", err)
	}
	items, err := r.objects()
	if err != nil {
		return nil, fmt.Errorf("find by name: %w", err)
	}
	var match []map[string]any
	var ids []string
	for _, obj := range items {
		id, _ := obj["id"].(string)
		if obj["name"] == t.name && id != "" {
			match = append(match, obj)
			ids = append(ids, id)
		}
	}
	switch len(match) {
	case 0:
		return nil, nil
	case 1:
		return match[0], nil
	}
	return nil, provider.Conflictf("GET %s: %d live %s objects are named %q (%s): not choosing one; delete the extra ones",
		p.shown(u), len(match), t.schema.Kind, t.name, rest.Truncate(strings.Join(ids, ", ")))
}

// Create POSTs the spec with Idempotency-Key req.IdempotencyKey, the same
// for every retry of one logical create, so a retry after an ambiguous
// failure gets the original object back. A 409 (a server that rejects
// duplicate names) adopts the one object with the name. The result's
// Private holds the id and the time of the create; it is NotReady while
// the object is pending.
//
// Errors: conflict (409 and two objects with the name), terminal (unknown
// kind, 4xx such as a reference to a missing object), rate limited (429),
// retryable (5xx, transport, 409 while the named object is not visible yet).
func (p *Provider) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	t, err := p.target(req)
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, err)
	}
	r, err := p.do(ctx, http.MethodPost, t.coll, t.body(req.Spec, nil), req.IdempotencyKey)
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, err)
	}
	if r.status == http.StatusConflict {
		obj, err := p.find(ctx, t)
		if err != nil {
			return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, fmt.Errorf("after %s: %w", rest.StatusText(r.status), err))
		}
		if obj == nil {
			return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, provider.Retryable(
				fmt.Errorf("%w; the object holding the name is not visible yet", r.plainErr())))
		}
		return provider.Result{Outputs: t.outputsOf(obj), Private: map[string]string{PrivateID: obj["id"].(string)}, NotReady: notReady(obj)}, nil
	}
	if err := r.err(p.now()); err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, err)
	}
	obj, err := r.object()
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, err)
	}
	return provider.Result{
		Outputs:  t.outputsOf(obj),
		Private:  written(map[string]string{PrivateID: obj["id"].(string), PrivateCreated: p.now().UTC().Format(time.RFC3339Nano)}, obj),
		NotReady: notReady(obj),
	}, nil
}

// Update PATCHes the mutable fields of the spec (never a ForceNew field:
// a change to one is a replace). Idempotent.
//
// Errors: terminal (no recorded id, 4xx), rate limited (429), retryable
// (5xx, transport, 404 and 409: the engine observes again first, and
// creates the object if it is gone).
func (p *Provider) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	t, err := p.target(req)
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, err)
	}
	id := req.Private[PrivateID]
	if id == "" {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, provider.Terminalf("no id recorded for the object"))
	}
	r, err := p.do(ctx, http.MethodPatch, t.itemURL(id), t.body(req.Spec, t.mutable), "")
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, err)
	}
	if r.status == http.StatusNotFound || r.status == http.StatusConflict {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, provider.Retryable(r.plainErr()))
	}
	if err := r.err(p.now()); err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, err)
	}
	obj, err := r.object()
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, err)
	}
	return provider.Result{Outputs: t.outputsOf(obj), Private: written(keepPrivate(req.Private, obj), obj), NotReady: notReady(obj)}, nil
}

// Delete DELETEs the object; 404 means already gone. Without a recorded id
// (a create interrupted before its answer was recorded) the object is found
// by name; when there is none, Delete succeeds.
//
// Errors: retryable (409: another object still references it; 5xx,
// transport), conflict (two objects with the name and no id), rate limited
// (429), terminal (other 4xx).
func (p *Provider) Delete(ctx context.Context, req provider.Request) error {
	t, err := p.target(req)
	if err != nil {
		return provider.OpFailed(provider.OpDelete, req.ID, err)
	}
	id := req.Private[PrivateID]
	if id == "" {
		obj, err := p.find(ctx, t)
		if err != nil {
			return provider.OpFailed(provider.OpDelete, req.ID, err)
		}
		if obj == nil {
			return nil
		}
		id = obj["id"].(string)
	}
	r, err := p.do(ctx, http.MethodDelete, t.itemURL(id), nil, "")
	if err != nil {
		return provider.OpFailed(provider.OpDelete, req.ID, err)
	}
	switch r.status {
	case http.StatusNotFound:
		return nil
	case http.StatusConflict:
		return provider.OpFailed(provider.OpDelete, req.ID, provider.Retryable(
			fmt.Errorf("%w (retrying: it can go once nothing references it)", r.plainErr())))
	}
	if err := r.err(p.now()); err != nil {
		return provider.OpFailed(provider.OpDelete, req.ID, err)
	}
	return nil
}

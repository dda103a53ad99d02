package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/store"
)

// Views are what the API reads.
type Views interface {
	Resources(ctx context.Context, f controller.ResourceFilter) (controller.ResourceList, error)
	Resource(ctx context.Context, id string) (controller.DescribeView, error)
	Revisions(ctx context.Context) ([]controller.RevisionView, error)
	Revision(ctx context.Context, hash string) (controller.RevisionDetail, error)
	Events(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	Plan(ctx context.Context) (controller.PlanView, error)
}

// Actions are what the API's POST requests do.
type Actions interface {
	Reconcile(ctx context.Context, id string) error
	ReconcileAll(ctx context.Context) error
	Rollback(ctx context.Context, hash string) (controller.RollbackView, error)
}

// Readiness says whether the daemon can serve (/readyz).
type Readiness interface {
	Ready(ctx context.Context) error
}

// Feed is what the stream follows: the store's changes and its events.
type Feed interface {
	LastSeq(ctx context.Context) (int64, error)
	Watch(ctx context.Context, from int64) (<-chan store.Change, error)
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error)
}

// Config configures a Handler. Views, Actions, Readiness and Feed are
// required; zero durations and sizes take the defaults.
type Config struct {
	Views     Views
	Actions   Actions
	Readiness Readiness
	Feed      Feed
	// Metrics serves /metrics; nil: /metrics is not found.
	Metrics http.Handler
	// Cluster, when set, is the cluster the daemon runs in (GET
	// /api/v1/cluster); nil: it runs alone.
	Cluster Cluster
	// Token, when set, is required of every /api/ request as
	// "Authorization: Bearer TOKEN".
	Token string
	// Timeout bounds every request but the plan and the stream; default
	// 30s. PlanTimeout bounds the plan, which observes the world; default
	// 2m.
	Timeout     time.Duration
	PlanTimeout time.Duration
	// MaxBody is the largest request body accepted; default 64 KiB.
	MaxBody int64
	// Heartbeat is how often an idle stream sends a comment; default 15s.
	Heartbeat time.Duration
	// EventPoll is how often a stream reads the event log for new
	// events (record changes are pushed by the store's watch, and each
	// also reads the log at once); default 1s.
	EventPoll time.Duration
	// Retry is the reconnection delay the stream asks of browsers;
	// default 2s.
	Retry time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.PlanTimeout <= 0 {
		c.PlanTimeout = 2 * time.Minute
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 64 << 10
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.EventPoll <= 0 {
		c.EventPoll = time.Second
	}
	if c.Retry <= 0 {
		c.Retry = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Handler is the API's http.Handler.
type Handler struct {
	cfg    Config
	mux    *http.ServeMux
	routes []string // the mux's patterns, in order
	token  [sha256.Size]byte
	// streams is closed by CloseStreams: every stream ends.
	streams   chan struct{}
	closeOnce sync.Once
	reads     eventReads // the streams' latest read of the event log
	planMu    sync.Mutex
	planning  *planCall // the plan in progress
}

// New returns the API's handler.
func New(cfg Config) *Handler {
	cfg.defaults()
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), streams: make(chan struct{})}
	if cfg.Token != "" {
		h.token = sha256.Sum256([]byte(cfg.Token))
	}
	timed := func(d time.Duration, fn handlerFunc) http.Handler {
		body := fmt.Sprintf(`{"error":"the request did not finish within %s","code":"timeout"}`, d)
		inner := http.TimeoutHandler(h.serve(fn), d, body)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The timeout's answer is written over these headers.
			w.Header().Set("Content-Type", "application/json")
			inner.ServeHTTP(w, r)
		})
	}
	route := func(pattern string, fn handlerFunc) { h.handle(pattern, timed(cfg.Timeout, fn)) }
	route("GET /healthz", h.healthz)
	route("GET /readyz", h.readyz)
	if cfg.Metrics != nil {
		h.handle("GET /metrics", http.TimeoutHandler(cfg.Metrics, cfg.Timeout, "timed out"))
	}
	route("GET /api/v1/resources", h.resources)
	route("GET /api/v1/resources/{kind}/{name}", h.resource)
	route("POST /api/v1/resources/{kind}/{name}/reconcile", h.reconcileOne)
	route("GET /api/v1/revisions", h.revisions)
	route("GET /api/v1/revisions/{hash}", h.revision)
	route("GET /api/v1/events", h.events)
	h.handle("GET /api/v1/plan", timed(cfg.PlanTimeout, h.plan))
	route("POST /api/v1/reconcile", h.reconcileAll)
	route("POST /api/v1/rollback", h.rollback)
	route("GET /api/v1/cluster", h.cluster)
	h.handle("GET /api/v1/stream", h.serve(h.stream))
	h.routeUI()
	return h
}

// handle routes pattern to hh.
func (h *Handler) handle(pattern string, hh http.Handler) {
	h.routes = append(h.routes, pattern)
	h.mux.Handle(pattern, hh)
}

// CloseStreams ends every stream, those open and those to come: a server
// that shuts down calls it first, since a stream never goes idle.
func (h *Handler) CloseStreams() {
	h.closeOnce.Do(func() { close(h.streams) })
}

// ServeHTTP checks the request's origin, host and token, then routes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if err := h.admit(r); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.fail(w, r, h.unrouted(r))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// admit refuses an /api/ request from another origin, for a host that is
// not loopback when there is no token, or without the token.
func (h *Handler) admit(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return &Error{Status: http.StatusForbidden, Code: "forbidden", Msg: "requests from pages of another origin are refused"}
		}
	}
	if h.cfg.Token == "" {
		if !loopbackHost(r.Host) {
			return &Error{Status: http.StatusForbidden, Code: "forbidden", Msg: "without an API token only requests to a loopback address are served"}
		}
		return nil
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	if !ok || subtle.ConstantTimeCompare(sum[:], h.token[:]) != 1 {
		return &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Msg: "missing or wrong API token: send Authorization: Bearer TOKEN"}
	}
	return nil
}

// loopbackHost reports whether a Host header names this machine's
// loopback: localhost or a loopback IP, with or without a port.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// unrouted says why no route serves r: another method would (405), or
// nothing would (404).
func (h *Handler) unrouted(r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := h.mux.Handler(probe); p != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		return &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Msg: r.Method + " is not allowed here; use " + strings.Join(allow, ", "), allow: allow}
	}
	return &Error{Status: http.StatusNotFound, Code: "not_found", Msg: "no such endpoint: " + r.URL.Path}
}

// Error is an error with the status and code the API answers it with.
type Error struct {
	Status int
	Code   string
	Msg    string
	allow  []string
}

func (e *Error) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Msg: fmt.Sprintf(format, args...)}
}

// handlerFunc is an endpoint: it writes its answer, or returns the error
// to answer with.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (h *Handler) serve(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBody)
		}
		if err := fn(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// classify returns the status, code and message the API answers err with:
// the one table of them.
func classify(err error) *Error {
	var ae *Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &tooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Msg: fmt.Sprintf("the request body is larger than %d bytes", tooLarge.Limit)}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Msg: err.Error()}
	case errors.Is(err, controller.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: "bad_request", Msg: err.Error()}
	case errors.Is(err, controller.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Msg: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: "timeout", Msg: "the request did not finish in time"}
	case errors.Is(err, context.Canceled):
		return &Error{Status: http.StatusServiceUnavailable, Code: "canceled", Msg: "the request was canceled"}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Msg: "internal error"}
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	if e.Status >= 500 {
		h.cfg.Logger.Error("api request failed", "method", r.Method, "path", r.URL.Path, "status", e.Status, "err", err)
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="converge"`)
	}
	if len(e.allow) > 0 {
		w.Header().Set("Allow", strings.Join(e.allow, ", "))
	}
	writeJSON(w, e.Status, struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{e.Msg, e.Code})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString(`{"error":"internal error","code":"internal"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// decodeBody decodes r's JSON body into v; an empty body leaves v alone.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		return nil // no body
	case errors.As(err, &tooLarge):
		return err
	default:
		return badRequest("the request body is not the JSON expected: %v", err)
	}
	if dec.More() {
		return badRequest("the request body holds more than one JSON value")
	}
	return nil
}

// Interface guards: the controller's live views are what the API serves.
var (
	_ Views     = (*controller.Live)(nil)
	_ Actions   = (*controller.Live)(nil)
	_ Readiness = (*controller.Live)(nil)
)

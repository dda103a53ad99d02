package cloudsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// maxBody bounds request bodies.
const maxBody = 1 << 20

// defaultHangFor is how long a hung request blocks when Faults.HangFor is 0.
const defaultHangFor = 30 * time.Second

// Server is the simulated cloud. It implements http.Handler; all methods are
// safe for concurrent use.
type Server struct {
	cfg   Config
	clock clock.Clock
	log   *slog.Logger

	mu        sync.Mutex // guards everything below
	st        *state
	audit     *auditor
	limiter   *bucket
	faults    Faults
	idRand    *rand.Rand
	faultRand *rand.Rand
	writes    int
}

var _ http.Handler = (*Server)(nil)

// New returns a server configured by cfg. Invalid faults in cfg are
// replaced by none; call SetFaults first to check them.
func New(cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = 24 * time.Hour
	}
	s := &Server{
		cfg:       cfg,
		clock:     cfg.Clock,
		log:       cfg.Logger,
		st:        newState(),
		audit:     newAuditor(),
		limiter:   newBucket(cfg.QPS, cfg.Burst),
		idRand:    rand.New(rand.NewPCG(cfg.Seed, 0x636c6f756473696d)),
		faultRand: rand.New(rand.NewPCG(cfg.Seed, 0x6661756c7473)),
	}
	if err := s.SetFaults(cfg.Faults); err != nil {
		s.log.Warn("ignoring invalid faults", "err", err)
	}
	return s
}

// ServeHTTP serves the API under /v1 and the admin endpoints under /admin.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/admin" || strings.HasPrefix(r.URL.Path, "/admin/") {
		s.serveAdmin(w, r)
		return
	}
	s.serveAPI(w, r)
}

// ListenAndServe serves on addr until ctx is done, then shuts down
// gracefully: in-flight requests get shutdownGrace to finish, then their
// connections are closed (which also ends hung requests).
func (s *Server) ListenAndServe(ctx context.Context, addr string, shutdownGrace time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln, shutdownGrace)
}

// Serve is ListenAndServe on an existing listener, which it closes.
func (s *Server) Serve(ctx context.Context, ln net.Listener, shutdownGrace time.Duration) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = hs.Close()
	}
	<-errc // always http.ErrServerClosed after Shutdown or Close
	if err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// response is one answer: a status, a JSON body (nil for none) and extra
// headers.
type response struct {
	status int
	body   any
	header map[string]string
}

// apiError is an error with the HTTP status it is answered with. Any other
// error is answered 500 "internal error".
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequestf(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func unprocessablef(format string, args ...any) error {
	return &apiError{http.StatusUnprocessableEntity, fmt.Sprintf(format, args...)}
}

func conflictf(format string, args ...any) error {
	return &apiError{http.StatusConflict, fmt.Sprintf(format, args...)}
}

func notFoundf(format string, args ...any) error {
	return &apiError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

// errorResponse turns err into its answer.
func (s *Server) errorResponse(err error) response {
	var ae *apiError
	if errors.As(err, &ae) {
		return response{status: ae.status, body: map[string]string{"error": ae.msg}}
	}
	s.log.Error("internal error", "err", err)
	return response{status: http.StatusInternalServerError, body: map[string]string{"error": "internal error"}}
}

func errorBody(status int, msg string) response {
	return response{status: status, body: map[string]string{"error": msg}}
}

// write sends res.
func write(w http.ResponseWriter, res response) {
	for k, v := range res.header {
		w.Header().Set(k, v)
	}
	if res.body == nil {
		w.WriteHeader(res.status)
		return
	}
	b, err := json.Marshal(res.body)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":"internal error"}` + "\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(res.status)
	_, _ = w.Write(append(b, '\n'))
}

// apiRequest is a parsed API request.
type apiRequest struct {
	method string
	kind   *kind  // nil for an unknown collection
	id     string // "" for the collection
	body   []byte
	query  map[string]string
	idem   string // Idempotency-Key
}

// parseAPI splits r into its parts. The body is read here, before any
// fault, so that every request costs the client the same.
func parseAPI(r *http.Request) (apiRequest, error) {
	req := apiRequest{method: r.Method, query: map[string]string{}}
	for k, v := range r.URL.Query() {
		req.query[k] = v[0]
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		return req, notFoundf("no such path %s", r.URL.Path)
	}
	coll, id, _ := strings.Cut(strings.TrimSuffix(rest, "/"), "/")
	k, ok := kindsByCollection[coll]
	if !ok || strings.Contains(id, "/") {
		return req, notFoundf("no such path %s", r.URL.Path)
	}
	req.kind, req.id = k, id
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
		if err != nil {
			return req, badRequestf("read body: %v", err)
		}
		req.body = b
	}
	req.idem = r.Header.Get("Idempotency-Key")
	return req, nil
}

// mutating reports whether req asks for a write.
func (req apiRequest) mutating() bool {
	switch req.method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// objectKey names the object a mutating request acts on, for overlap
// detection: its ID, or "Kind:name" for a create.
func (req apiRequest) objectKey() string {
	if req.kind == nil || !req.mutating() {
		return ""
	}
	if req.id != "" {
		return req.id
	}
	var body struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(req.body, &body) != nil || body.Name == "" {
		return ""
	}
	return req.kind.name + ":" + body.Name
}

// draw is the faults one request meets.
type draw struct {
	outage    bool
	errStatus int // 0: none
	hang      time.Duration
	latency   time.Duration
	ambiguous bool
}

// drawFaults draws the faults for one request. It always takes the same
// number of random values, so the sequence of draws depends only on the
// seed and the number of requests. Requires s.mu.
func (s *Server) drawFaults(now time.Time) draw {
	f := s.faults
	rErr, rCode, rHang, rAmb, rJit := s.faultRand.Float64(), s.faultRand.Float64(), s.faultRand.Float64(), s.faultRand.Float64(), s.faultRand.Float64()
	d := draw{
		outage:    f.Outage || now.Before(f.OutageUntil),
		ambiguous: rAmb < f.AmbiguousRate,
		latency:   time.Duration(f.Latency) + time.Duration(rJit*float64(f.LatencyJitter)),
	}
	if rErr < f.ErrorRate {
		d.errStatus = http.StatusInternalServerError
		if rCode < 0.5 {
			d.errStatus = http.StatusServiceUnavailable
		}
	}
	if rHang < f.HangRate {
		d.hang = time.Duration(f.HangFor)
		if d.hang <= 0 {
			d.hang = defaultHangFor
		}
	}
	return d
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := s.clock.Now()
	req, perr := parseAPI(r)
	kindName := ""
	if req.kind != nil {
		kindName = req.kind.name
	}

	s.mu.Lock()
	tr := s.audit.begin(start, r.Method, kindName, req.objectKey())
	admitted, wait := s.limiter.take(start)
	if admitted {
		s.audit.admit(start)
	}
	d := s.drawFaults(start)
	s.mu.Unlock()

	res, fault := s.answer(r.Context(), req, perr, tr, admitted, wait, d)
	write(w, res)

	s.mu.Lock()
	if fault != "" {
		s.audit.faults[fault]++
	}
	s.audit.end(tr, res.status)
	s.mu.Unlock()

	level := slog.LevelDebug
	if fault != "" {
		level = slog.LevelInfo
	}
	s.log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path,
		"status", res.status, "fault", fault, "took", s.clock.Since(start))
}

// statusClientGone records a request whose client left before the answer.
const statusClientGone = 499

// answer decides one API request's answer and the fault injected into it
// ("" for none).
func (s *Server) answer(ctx context.Context, req apiRequest, perr error, tr *tracked, admitted bool, wait time.Duration, d draw) (response, string) {
	release := func() {
		s.mu.Lock()
		s.audit.release(tr)
		s.mu.Unlock()
	}
	switch {
	case !admitted:
		res := errorBody(http.StatusTooManyRequests, "rate limit exceeded")
		res.header = map[string]string{"Retry-After": strconv.Itoa(retryAfterSeconds(wait))}
		return res, ""
	case d.outage:
		return errorBody(http.StatusServiceUnavailable, "service unavailable"), "outage"
	case d.hang > 0:
		release()
		if !s.sleep(ctx, d.hang) {
			return response{status: statusClientGone}, "hang"
		}
		return errorBody(http.StatusGatewayTimeout, "gateway timeout"), "hang"
	}
	if d.latency > 0 && !s.sleep(ctx, d.latency) {
		return response{status: statusClientGone}, ""
	}
	if d.errStatus != 0 {
		return errorBody(d.errStatus, http.StatusText(d.errStatus)), "error"
	}
	if perr != nil {
		return s.errorResponse(perr), ""
	}
	res, err := s.actLocked(req)
	if err != nil {
		return s.errorResponse(err), ""
	}
	if d.ambiguous && req.mutating() && res.status < 300 {
		return errorBody(http.StatusInternalServerError, "internal error"), "ambiguous"
	}
	return res, ""
}

// sleep waits for d on the server's clock. It returns false if ctx ended
// first.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := s.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// actLocked is act under s.mu, released even if act panics.
func (s *Server) actLocked(req apiRequest) (response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.act(s.clock.Now(), req)
}

// act performs an admitted, unfaulted API request. Requires s.mu.
func (s *Server) act(now time.Time, req apiRequest) (response, error) {
	k := req.kind
	if req.id == "" {
		switch req.method {
		case http.MethodGet:
			return s.list(now, k, req.query), nil
		case http.MethodPost:
			return s.create(now, k, req.body, req.idem)
		}
		return response{}, &apiError{http.StatusMethodNotAllowed, fmt.Sprintf("%s /v1/%s is not allowed (GET, POST)", req.method, k.collection)}
	}
	switch req.method {
	case http.MethodGet:
		return s.get(now, k, req.id)
	case http.MethodPut, http.MethodPatch:
		return s.update(now, k, req.id, req.body, req.method == http.MethodPatch)
	case http.MethodDelete:
		return s.delete(now, k, req.id)
	}
	return response{}, &apiError{http.StatusMethodNotAllowed, fmt.Sprintf("%s /v1/%s/{id} is not allowed (GET, PUT, PATCH, DELETE)", req.method, k.collection)}
}

// render is the wire form of a stored object at now.
func (s *Server) render(now time.Time, o *object, fields map[string]any) map[string]any {
	out := cloneFields(fields)
	out["state"] = "running"
	if o.kind.provisioned && now.Before(o.created.Add(s.cfg.ProvisionDelay)) {
		out["state"] = "pending"
	}
	return out
}

// readTime is the instant reads see.
func (s *Server) readTime(now time.Time) time.Time { return now.Add(-s.cfg.Lag) }

func (s *Server) list(now time.Time, k *kind, query map[string]string) response {
	items := []map[string]any{}
	t := s.readTime(now)
	name, byName := query["name"]
	stale := false
	for _, o := range s.st.sorted() {
		if o.kind != k {
			continue
		}
		f := o.at(t)
		if o.stale(t) && (!byName || f != nil && f["name"] == name || o.current() != nil && o.current()["name"] == name) {
			stale = true
		}
		if f == nil {
			continue
		}
		if byName && f["name"] != name {
			continue
		}
		items = append(items, s.render(now, o, f))
	}
	if stale {
		s.audit.staleReads++
	}
	if query["envelope"] == "1" || query["envelope"] == "true" {
		return response{status: http.StatusOK, body: map[string]any{"items": items}}
	}
	return response{status: http.StatusOK, body: items}
}

func (s *Server) get(now time.Time, k *kind, id string) (response, error) {
	o, ok := s.st.objects[id]
	if !ok || o.kind != k {
		return response{}, notFoundf("%s %q not found", k.name, id)
	}
	t := s.readTime(now)
	if o.stale(t) {
		s.audit.staleReads++
	}
	f := o.at(t)
	if f == nil {
		return response{}, notFoundf("%s %q not found", k.name, id)
	}
	return response{status: http.StatusOK, body: s.render(now, o, f)}, nil
}

// decodeBody parses a JSON object request body, keeping numbers exact.
func decodeBody(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, badRequestf("body is not a JSON object: %v", err)
	}
	if m == nil {
		return nil, badRequestf("body is not a JSON object")
	}
	if dec.More() {
		return nil, badRequestf("body holds more than one JSON value")
	}
	return m, nil
}

// clientFields returns the client-settable fields of a stored object.
func clientFields(k *kind, stored map[string]any) map[string]any {
	out := map[string]any{}
	for _, f := range k.fields {
		if v, ok := stored[f.name]; ok {
			out[f.name] = cloneValue(v)
		}
	}
	return out
}

func applyDefaults(k *kind, m map[string]any) {
	for _, f := range k.fields {
		if _, ok := m[f.name]; !ok && f.def != nil {
			m[f.name] = f.def
		}
	}
}

// checkUnique answers 409 when RejectDuplicates is set and another live
// object of k (not self) has name.
func (s *Server) checkUnique(k *kind, name, self string) error {
	if !s.cfg.RejectDuplicates {
		return nil
	}
	for _, o := range s.st.objects {
		if o.kind != k || o.id == self {
			continue
		}
		if cur := o.current(); cur != nil && cur["name"] == name {
			return conflictf("%s named %q already exists: %s", k.name, name, o.id)
		}
	}
	return nil
}

func (s *Server) newID(k *kind) string {
	for {
		id := fmt.Sprintf("%s%012x", k.idPrefix, s.idRand.Uint64()>>16)
		if _, taken := s.st.objects[id]; !taken {
			return id
		}
	}
}

// wrote counts a write and now and then forgets history no read can see.
func (s *Server) wrote(now time.Time, o *object) {
	s.writes++
	if o.compact(s.readTime(now)) {
		delete(s.st.objects, o.id)
	}
	if s.writes%256 == 0 {
		s.st.compactAll(s.readTime(now))
		for key, e := range s.st.keys {
			if now.Sub(e.at) > s.cfg.IdempotencyTTL {
				delete(s.st.keys, key)
			}
		}
	}
}

func (s *Server) create(now time.Time, k *kind, raw []byte, idem string) (response, error) {
	body, err := decodeBody(raw)
	if err != nil {
		return response{}, err
	}
	idemKey := ""
	if idem != "" && !s.cfg.DisableIdempotency {
		idemKey = k.collection + "\x00" + idem
		if e, ok := s.st.keys[idemKey]; ok && now.Sub(e.at) <= s.cfg.IdempotencyTTL {
			if e.bodyHash != hashBody(body) {
				return response{}, unprocessablef("Idempotency-Key %q was used with a different request body", idem)
			}
			reply := cloneFields(e.reply)
			if o, ok := s.st.objects[e.id]; ok && o.current() != nil {
				reply = s.render(now, o, o.current())
			}
			s.audit.replays++
			return response{status: e.status, body: reply, header: map[string]string{"Idempotent-Replayed": "true"}}, nil
		}
	}
	fields, err := k.decodeFields(body)
	if err != nil {
		return response{}, err
	}
	for name, v := range fields {
		if v == nil {
			delete(fields, name)
		}
	}
	applyDefaults(k, fields)
	if err := k.validate(s.st, fields); err != nil {
		return response{}, err
	}
	if err := s.checkUnique(k, fields["name"].(string), ""); err != nil {
		return response{}, err
	}
	id := s.newID(k)
	ts := now.UTC().Format(time.RFC3339Nano)
	fields["id"], fields["createdAt"], fields["updatedAt"] = id, ts, ts
	if k.name == KindLoadBalancer {
		fields["dnsName"] = fmt.Sprintf("%s-%s.lb.cloudsim.internal", strings.ToLower(fields["name"].(string)), strings.TrimPrefix(id, k.idPrefix))
	}
	s.st.seq++
	o := &object{kind: k, id: id, seq: s.st.seq, created: now}
	s.st.objects[id] = o
	s.st.put(o, now, fields)
	s.audit.create(k.name, fields["name"].(string))
	reply := s.render(now, o, fields)
	if idemKey != "" {
		s.st.keys[idemKey] = idempotent{collection: k.collection, bodyHash: hashBody(body), id: id, status: http.StatusCreated, reply: cloneFields(reply), at: now}
	}
	s.wrote(now, o)
	return response{status: http.StatusCreated, body: reply}, nil
}

func (s *Server) update(now time.Time, k *kind, id string, raw []byte, patch bool) (response, error) {
	o, ok := s.st.objects[id]
	if !ok || o.kind != k || o.current() == nil {
		return response{}, notFoundf("%s %q not found", k.name, id)
	}
	body, err := decodeBody(raw)
	if err != nil {
		return response{}, err
	}
	fields, err := k.decodeFields(body)
	if err != nil {
		return response{}, err
	}
	cur := o.current()
	old := clientFields(k, cur)
	next := map[string]any{}
	if patch {
		// JSON merge patch (RFC 7396) at the top level: null removes.
		next = clientFields(k, cur)
		for name, v := range fields {
			if v == nil {
				delete(next, name)
			} else {
				next[name] = v
			}
		}
	} else {
		for name, v := range fields {
			if v != nil {
				next[name] = v
			}
		}
		// A PUT may leave out immutable fields: they keep their value.
		for _, f := range k.fields {
			if _, ok := next[f.name]; !ok && f.immutable {
				if v, ok := old[f.name]; ok {
					next[f.name] = v
				}
			}
		}
	}
	applyDefaults(k, next)
	for _, f := range k.fields {
		if f.immutable && !reflect.DeepEqual(next[f.name], old[f.name]) {
			return response{}, unprocessablef("field %q of %s %s is immutable: delete and recreate the object to change it", f.name, k.name, id)
		}
	}
	if err := k.validate(s.st, next); err != nil {
		return response{}, err
	}
	if err := s.checkUnique(k, next["name"].(string), id); err != nil {
		return response{}, err
	}
	if reflect.DeepEqual(next, old) {
		return response{status: http.StatusOK, body: s.render(now, o, cur)}, nil
	}
	for _, name := range []string{"id", "createdAt", "dnsName"} {
		if v, ok := cur[name]; ok {
			next[name] = v
		}
	}
	next["updatedAt"] = now.UTC().Format(time.RFC3339Nano)
	s.st.put(o, now, next)
	s.wrote(now, o)
	return response{status: http.StatusOK, body: s.render(now, o, next)}, nil
}

func (s *Server) delete(now time.Time, k *kind, id string) (response, error) {
	o, ok := s.st.objects[id]
	if !ok || o.kind != k || o.current() == nil {
		return response{}, notFoundf("%s %q not found", k.name, id)
	}
	if refs := s.st.referrers(id); len(refs) > 0 {
		return response{}, conflictf("%s %s is still referenced by %s", k.name, id, strings.Join(refs, ", "))
	}
	s.st.put(o, now, nil)
	s.wrote(now, o)
	return response{status: http.StatusNoContent}, nil
}

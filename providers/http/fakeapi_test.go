package httpprovider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// collectionPath is where fakeAPI keeps its objects.
const collectionPath = "/v1/widgets"

// seen is one request fakeAPI received.
type seen struct {
	Method string
	Path   string // escaped
	Key    string // Idempotency-Key
	Auth   string // Authorization
	Header http.Header
}

// fakeAPI is a small JSON REST API over one collection, in memory. Objects
// get an id "w-N", and the server adds createdAt, state "running" and a
// nested meta object, so tests see fields the spec does not declare.
type fakeAPI struct {
	URL string // the collection's URL

	mu       sync.Mutex
	objects  map[string]map[string]any
	next     int
	byKey    map[string]string // idempotency key -> id
	requests []seen

	// envelope makes the list answer {"items": [...]} instead of an array.
	envelope bool
	// uniqueName makes a POST of an existing name a 409.
	uniqueName bool
	// ambiguous is how many POSTs commit their object and answer 500.
	ambiguous int
	// state is the state of new objects (default "running").
	state string
	// intercept, when set, may answer a request instead of the API: it
	// returns true when it did.
	intercept func(w http.ResponseWriter, r *http.Request, n int) bool
}

func newFakeAPI(t *testing.T, configure func(*fakeAPI)) *fakeAPI {
	t.Helper()
	f := &fakeAPI{objects: map[string]map[string]any{}, byKey: map[string]string{}, state: "running"}
	if configure != nil {
		configure(f)
	}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL + collectionPath
	return f
}

// seen returns the requests received so far.
func (f *fakeAPI) seen() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.requests...)
}

// put stores obj under id, as if created out of band.
func (f *fakeAPI) put(id string, obj map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := copyObj(obj)
	o["id"] = id
	f.objects[id] = o
}

// get returns the object id, or nil.
func (f *fakeAPI) get(id string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o, ok := f.objects[id]; ok {
		return copyObj(o)
	}
	return nil
}

// count returns how many objects exist.
func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.objects)
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, seen{Method: r.Method, Path: r.URL.EscapedPath(), Key: r.Header.Get("Idempotency-Key"), Auth: r.Header.Get("Authorization"), Header: r.Header.Clone()})
	n := len(f.requests)
	intercept := f.intercept
	f.mu.Unlock()
	if intercept != nil && intercept(w, r, n) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	path := r.URL.EscapedPath()
	switch {
	case path == collectionPath && r.Method == http.MethodGet:
		f.list(w)
	case path == collectionPath && r.Method == http.MethodPost:
		f.create(w, r)
	case strings.HasPrefix(path, collectionPath+"/"):
		id, err := url.PathUnescape(strings.TrimPrefix(path, collectionPath+"/"))
		if err != nil {
			reply(w, http.StatusBadRequest, map[string]any{"error": "bad id"})
			return
		}
		f.item(w, r, id)
	default:
		reply(w, http.StatusNotFound, map[string]any{"error": "no route"})
	}
}

func (f *fakeAPI) list(w http.ResponseWriter) {
	ids := make([]string, 0, len(f.objects))
	for id := range f.objects {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	items := make([]any, 0, len(ids))
	for _, id := range ids {
		items = append(items, f.objects[id])
	}
	if f.envelope {
		reply(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
		return
	}
	reply(w, http.StatusOK, items)
}

func (f *fakeAPI) create(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"error": "body is not a JSON object"})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if id, ok := f.byKey[key]; ok && key != "" {
		f.answerCreate(w, http.StatusOK, f.objects[id])
		return
	}
	if f.uniqueName {
		for _, o := range f.objects {
			if o["name"] == body["name"] {
				reply(w, http.StatusConflict, map[string]any{"error": "name taken"})
				return
			}
		}
	}
	f.next++
	id := fmt.Sprintf("w-%d", f.next)
	o := copyObj(body)
	o["id"] = id
	o["createdAt"] = "2026-01-02T03:04:05Z"
	o["state"] = f.state
	o["meta"] = map[string]any{"revision": 1}
	f.objects[id] = o
	if key != "" {
		f.byKey[key] = id
	}
	f.answerCreate(w, http.StatusCreated, o)
}

// answerCreate answers a committed create: with 500 while ambiguous
// failures are left, else with status and the object.
func (f *fakeAPI) answerCreate(w http.ResponseWriter, status int, o map[string]any) {
	if f.ambiguous > 0 {
		f.ambiguous--
		reply(w, http.StatusInternalServerError, map[string]any{"error": "upstream reset"})
		return
	}
	reply(w, status, o)
}

func (f *fakeAPI) item(w http.ResponseWriter, r *http.Request, id string) {
	o, ok := f.objects[id]
	if !ok {
		reply(w, http.StatusNotFound, map[string]any{"error": "not found"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		reply(w, http.StatusOK, o)
	case http.MethodPut, http.MethodPatch:
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			reply(w, http.StatusBadRequest, map[string]any{"error": "body is not a JSON object"})
			return
		}
		n := map[string]any{"id": id, "createdAt": o["createdAt"], "state": o["state"], "meta": o["meta"]}
		if r.Method == http.MethodPatch {
			n = o // merge
		}
		for k, v := range body {
			n[k] = v
		}
		f.objects[id] = n
		reply(w, http.StatusOK, n)
	case http.MethodDelete:
		delete(f.objects, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		reply(w, http.StatusMethodNotAllowed, map[string]any{"error": "method not allowed"})
	}
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func copyObj(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// clock is a manual clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// httptestServer returns a started server that answers nothing useful.
func httptestServer() *httptest.Server {
	return httptest.NewServer(http.NotFoundHandler())
}

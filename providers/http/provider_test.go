package httpprovider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/rest"
)

const resourceID = Kind + "/web-1"

// env is the environment the test providers see.
var env = map[string]string{"API_TOKEN": "s3cret-token", "TENANT": "acme"}

func newTestProvider(clk *clock, opts ...Option) *Provider {
	base := []Option{
		WithClock(clk.Now),
		WithLookupEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }),
	}
	return New(append(base, opts...)...)
}

// resolved returns spec with the schema's defaults applied, as the engine
// passes it.
func resolved(t *testing.T, spec map[string]any) map[string]any {
	t.Helper()
	s, err := schema().Apply(provider.CanonicalMap(spec))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return s
}

// widget returns a spec for the collection at u with extra fields set.
func widget(t *testing.T, u string, body map[string]any, extra map[string]any) map[string]any {
	t.Helper()
	s := map[string]any{"url": u, "body": body}
	for k, v := range extra {
		s[k] = v
	}
	return resolved(t, s)
}

func request(spec map[string]any, private map[string]string) provider.Request {
	return provider.Request{ID: resourceID, Kind: Kind, Name: "web-1", Spec: spec, Private: private, IdempotencyKey: "key-1"}
}

func classOf(err error) string {
	if err == nil {
		return "nil"
	}
	c, _ := provider.Classify(err)
	return c.String()
}

func TestLifecycle(t *testing.T) {
	tests := map[string]struct {
		method string
		// wantExtraKept: the server still has a field the new body dropped.
		wantExtraKept bool
	}{
		"PUT replaces the object":      {method: "PUT", wantExtraKept: false},
		"PATCH merges into the object": {method: "PATCH", wantExtraKept: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			api := newFakeAPI(t, nil)
			p := newTestProvider(clk)
			ctx := context.Background()
			sch := schema()

			v1 := widget(t, api.URL, map[string]any{"name": "web-1", "size": 3, "color": "red"}, map[string]any{"updateMethod": strings.ToLower(tc.method)})
			res, err := p.Create(ctx, request(v1, nil))
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if got, want := res.Private, map[string]string{"id": "w-1", "created": clk.Now().Format(time.RFC3339Nano)}; !cmp.Equal(got, want) {
				t.Errorf("Create Private: %s", cmp.Diff(want, got))
			}
			if got, want := res.Outputs["id"], any("w-1"); got != want {
				t.Errorf("Create Outputs[id] = %v; want %v", got, want)
			}

			obs, err := p.Observe(ctx, request(v1, res.Private))
			if err != nil {
				t.Fatalf("Observe: %v", err)
			}
			if !obs.Exists || obs.NotReady != "" {
				t.Fatalf("Observe = exists %v, not ready %q; want exists and ready", obs.Exists, obs.NotReady)
			}
			if d := diff.Compute(sch, v1, obs.State); !d.Empty() {
				t.Errorf("diff after create = %v; want none (server-added fields are not changes)", d.Paths())
			}
			if got, want := obs.Outputs["state"], any("running"); got != want {
				t.Errorf("Outputs[state] = %v; want %v", got, want)
			}

			v2 := widget(t, api.URL, map[string]any{"name": "web-1", "size": 5}, map[string]any{"updateMethod": tc.method})
			if got, want := diff.Compute(sch, v2, obs.State).Paths(), []string{"body.size"}; !cmp.Equal(got, want) {
				t.Errorf("diff after spec change: %s", cmp.Diff(want, got))
			}
			ures, err := p.Update(ctx, request(v2, obs.Private))
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if got, want := ures.Outputs["size"], any(int64(5)); got != want {
				t.Errorf("Update Outputs[size] = %v; want %v", got, want)
			}
			_, kept := api.get("w-1")["color"]
			if kept != tc.wantExtraKept {
				t.Errorf("after %s the server kept color: %v; want %v", tc.method, kept, tc.wantExtraKept)
			}
			obs, err = p.Observe(ctx, request(v2, ures.Private))
			if err != nil {
				t.Fatalf("Observe after update: %v", err)
			}
			if d := diff.Compute(sch, v2, obs.State); !d.Empty() {
				t.Errorf("diff after update = %v; want none", d.Paths())
			}

			if err := p.Delete(ctx, request(v2, ures.Private)); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if err := p.Delete(ctx, request(v2, ures.Private)); err != nil {
				t.Errorf("second Delete = %v; want nil (404 is already gone)", err)
			}
			clk.Advance(DefaultGrace)
			obs, err = p.Observe(ctx, request(v2, ures.Private))
			if err != nil || obs.Exists {
				t.Errorf("Observe after delete = exists %v, %v; want absent, nil", obs.Exists, err)
			}

			var got []string
			for _, s := range api.seen() {
				got = append(got, s.Method+" "+s.Path)
			}
			want := []string{
				"POST /v1/widgets",
				"GET /v1/widgets/w-1",
				tc.method + " /v1/widgets/w-1",
				"GET /v1/widgets/w-1",
				"DELETE /v1/widgets/w-1",
				"DELETE /v1/widgets/w-1",
				"GET /v1/widgets/w-1",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusCodes(t *testing.T) {
	tests := map[string]struct {
		op         string // observe, create, update, delete
		status     int
		header     map[string]string
		body       string
		wantClass  string
		wantAfter  time.Duration
		wantMsg    string // in the error
		wantAbsent bool   // observe: Exists false
	}{
		"observe 404 is absent":            {op: "observe", status: 404, body: `{"error":"not found"}`, wantClass: "nil", wantAbsent: true},
		"observe 410 is absent":            {op: "observe", status: 410, wantClass: "nil", wantAbsent: true},
		"observe 500 is retryable":         {op: "observe", status: 500, body: `{"message":"db down"}`, wantClass: "retryable", wantMsg: "500 Internal Server Error: db down"},
		"observe 503 is retryable":         {op: "observe", status: 503, body: "maintenance", wantClass: "retryable", wantMsg: "503 Service Unavailable: maintenance"},
		"observe 408 is retryable":         {op: "observe", status: 408, wantClass: "retryable", wantMsg: "408 Request Timeout"},
		"observe 400 is terminal":          {op: "observe", status: 400, body: `{"error":"bad filter"}`, wantClass: "terminal", wantMsg: "400 Bad Request: bad filter"},
		"observe 403 nested error message": {op: "observe", status: 403, body: `{"error":{"code":7,"message":"no access to widgets"}}`, wantClass: "terminal", wantMsg: "403 Forbidden: no access to widgets"},
		"observe 200 that is not JSON":     {op: "observe", status: 200, body: "<html>", wantClass: "terminal", wantMsg: "response is not JSON"},
		"observe 429 with seconds":         {op: "observe", status: 429, header: map[string]string{"Retry-After": "7"}, wantClass: "rate-limited", wantAfter: 7 * time.Second, wantMsg: "429 Too Many Requests"},
		"observe 429 without Retry-After":  {op: "observe", status: 429, wantClass: "rate-limited", wantAfter: 0},
		"create 409 without adoptBy":       {op: "create", status: 409, body: `{"error":"name taken"}`, wantClass: "conflict", wantMsg: "409 Conflict: name taken"},
		"create 422 is terminal":           {op: "create", status: 422, body: `{"message":"size must be below 10"}`, wantClass: "terminal", wantMsg: "size must be below 10"},
		"create 201 without the id field":  {op: "create", status: 201, body: `{"uuid":"x"}`, wantClass: "terminal", wantMsg: "has no id field"},
		"create 201 with a numeric id":     {op: "create", status: 201, body: `{"id":42}`, wantClass: "nil"},
		"create 502 is retryable":          {op: "create", status: 502, wantClass: "retryable"},
		"create 429 with an HTTP date":     {op: "create", status: 429, header: map[string]string{"Retry-After": "Sun, 01 Mar 2026 12:00:20 GMT"}, wantClass: "rate-limited", wantAfter: 20 * time.Second},
		"update 404 is retryable":          {op: "update", status: 404, wantClass: "retryable", wantMsg: "404 Not Found"},
		"update 409 is retryable":          {op: "update", status: 409, wantClass: "retryable"},
		"update 400 is terminal":           {op: "update", status: 400, body: "size: not a number\n", wantClass: "terminal", wantMsg: "400 Bad Request: size: not a number"},
		"update 204 keeps outputs":         {op: "update", status: 204, wantClass: "nil"},
		"delete 404 is already gone":       {op: "delete", status: 404, wantClass: "nil"},
		"delete 410 is already gone":       {op: "delete", status: 410, wantClass: "nil"},
		"delete 409 is retryable":          {op: "delete", status: 409, body: `{"error":"network has subnets"}`, wantClass: "retryable", wantMsg: "network has subnets"},
		"delete 401 is terminal":           {op: "delete", status: 401, wantClass: "terminal", wantMsg: "401 Unauthorized"},
		"delete 500 is retryable":          {op: "delete", status: 500, wantClass: "retryable"},
		"long message is truncated":        {op: "observe", status: 400, body: strings.Repeat("x", 1000), wantClass: "terminal", wantMsg: strings.Repeat("x", rest.MaxMessage) + "..."},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			api := newFakeAPI(t, func(f *fakeAPI) {
				f.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
					for k, v := range tc.header {
						w.Header().Set(k, v)
					}
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(tc.body))
					return true
				}
			})
			p := newTestProvider(newClock())
			spec := widget(t, api.URL, map[string]any{"name": "web-1"}, nil)
			req := request(spec, map[string]string{"id": "w-1"})
			var err error
			var obs provider.Observation
			switch tc.op {
			case "observe":
				obs, err = p.Observe(context.Background(), req)
			case "create":
				_, err = p.Create(context.Background(), request(spec, nil))
			case "update":
				_, err = p.Update(context.Background(), req)
			case "delete":
				err = p.Delete(context.Background(), req)
			}
			if got := classOf(err); got != tc.wantClass {
				t.Fatalf("class = %s (err %v); want %s", got, err, tc.wantClass)
			}
			if err == nil {
				if tc.op == "observe" && obs.Exists == tc.wantAbsent {
					t.Errorf("Exists = %v; want %v", obs.Exists, !tc.wantAbsent)
				}
				return
			}
			if _, after := provider.Classify(err); after != tc.wantAfter {
				t.Errorf("RetryAfter = %s; want %s", after, tc.wantAfter)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), tc.op+" "+resourceID+": ") {
				t.Errorf("error %q does not start with %q", err, tc.op+" "+resourceID)
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	release := make(chan struct{})
	hang := newFakeAPI(t, func(f *fakeAPI) {
		f.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return true
		}
	})
	t.Cleanup(func() { close(release) })
	// A closed server refuses connections.
	closed := newFakeAPIClosed(t)

	tests := map[string]struct {
		url     string
		timeout time.Duration
		wantMsg string
	}{
		"connection refused": {url: closed, wantMsg: "connect"},
		"timeout":            {url: hang.URL, timeout: 50 * time.Millisecond, wantMsg: "timed out"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := newTestProvider(newClock())
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := p.Observe(ctx, request(widget(t, tc.url, map[string]any{"name": "a"}, nil), map[string]string{"id": "w-1"}))
			if got, want := classOf(err), "retryable"; got != want {
				t.Fatalf("class = %s (err %v); want %s", got, err, want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
		})
	}
}

// newFakeAPIClosed returns the collection URL of a server that was closed:
// connections to it are refused.
func newFakeAPIClosed(t *testing.T) string {
	t.Helper()
	srv := httptestServer()
	u := srv.URL + collectionPath
	srv.Close()
	return u
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		in   string
		want time.Duration
	}{
		"empty":               {in: "", want: 0},
		"seconds":             {in: "120", want: 2 * time.Minute},
		"seconds with spaces": {in: " 3 ", want: 3 * time.Second},
		"zero":                {in: "0", want: 0},
		"negative":            {in: "-5", want: 0},
		"capped":              {in: "999999999", want: rest.MaxRetryAfter},
		"IMF-fixdate":         {in: "Sun, 01 Mar 2026 12:00:45 GMT", want: 45 * time.Second},
		"RFC 850 date":        {in: "Sunday, 01-Mar-26 12:01:00 GMT", want: time.Minute},
		"asctime date":        {in: "Sun Mar  1 12:00:10 2026", want: 10 * time.Second},
		"date in the past":    {in: "Sun, 01 Mar 2026 11:00:00 GMT", want: 0},
		"garbage":             {in: "soon", want: 0},
		"fractional seconds":  {in: "1.5", want: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := rest.RetryAfter(tc.in, now); got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %s; want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestRateLimitPausesHost(t *testing.T) {
	tests := map[string]struct {
		retryAfter string
		wantPause  time.Duration
	}{
		"seconds":   {retryAfter: "30", wantPause: 30 * time.Second},
		"HTTP date": {retryAfter: "Sun, 01 Mar 2026 12:00:30 GMT", wantPause: 30 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			api := newFakeAPI(t, func(f *fakeAPI) {
				f.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
					if n > 1 {
						return false
					}
					w.Header().Set("Retry-After", tc.retryAfter)
					w.WriteHeader(http.StatusTooManyRequests)
					return true
				}
			})
			api.put("w-1", map[string]any{"name": "web-1"})
			clk := newClock()
			p := newTestProvider(clk)
			ctx := context.Background()
			req := request(widget(t, api.URL, map[string]any{"name": "web-1"}, nil), map[string]string{"id": "w-1"})

			_, err := p.Observe(ctx, req)
			if c, after := provider.Classify(err); c != provider.ClassRateLimited || after != tc.wantPause {
				t.Fatalf("first Observe: class %s after %s (%v); want rate-limited after %s", c, after, err, tc.wantPause)
			}
			clk.Advance(10 * time.Second)
			// Any call to the host waits: nothing is sent.
			_, err = p.Create(ctx, request(req.Spec, nil))
			if c, after := provider.Classify(err); c != provider.ClassRateLimited || after != tc.wantPause-10*time.Second {
				t.Errorf("Create while paused: class %s after %s (%v); want rate-limited after %s", c, after, err, tc.wantPause-10*time.Second)
			}
			if got, want := len(api.seen()), 1; got != want {
				t.Errorf("requests while paused = %d; want %d", got, want)
			}
			clk.Advance(tc.wantPause)
			obs, err := p.Observe(ctx, req)
			if err != nil || !obs.Exists {
				t.Fatalf("Observe after the pause = exists %v, %v; want exists, nil", obs.Exists, err)
			}
			if got, want := len(api.seen()), 2; got != want {
				t.Errorf("requests = %d; want %d", got, want)
			}
		})
	}
}

func TestIdempotencyKey(t *testing.T) {
	tests := map[string]struct {
		ambiguous int // POSTs that commit and answer 500
		wantPosts int
	}{
		"one create":                           {ambiguous: 0, wantPosts: 1},
		"retry after an ambiguous failure":     {ambiguous: 1, wantPosts: 2},
		"two ambiguous failures, then success": {ambiguous: 2, wantPosts: 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			api := newFakeAPI(t, func(f *fakeAPI) { f.ambiguous = tc.ambiguous })
			p := newTestProvider(newClock())
			req := request(widget(t, api.URL, map[string]any{"name": "web-1"}, nil), nil)
			req.IdempotencyKey = "op-7f3a"
			var res provider.Result
			var err error
			for i := 0; i < tc.wantPosts; i++ {
				res, err = p.Create(context.Background(), req)
				if i < tc.wantPosts-1 && classOf(err) != "retryable" {
					t.Fatalf("Create %d: %v; want a retryable error", i+1, err)
				}
			}
			if err != nil {
				t.Fatalf("last Create: %v", err)
			}
			if got, want := res.Private["id"], "w-1"; got != want {
				t.Errorf("id = %q; want %q", got, want)
			}
			if got, want := api.count(), 1; got != want {
				t.Errorf("objects = %d; want %d", got, want)
			}
			var keys []string
			for _, s := range api.seen() {
				keys = append(keys, s.Key)
			}
			want := make([]string, tc.wantPosts)
			for i := range want {
				want[i] = "op-7f3a"
			}
			if diff := cmp.Diff(want, keys); diff != "" {
				t.Errorf("Idempotency-Key of each POST (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIdempotencyKeyOnlyOnCreate(t *testing.T) {
	api := newFakeAPI(t, nil)
	p := newTestProvider(newClock())
	ctx := context.Background()
	spec := widget(t, api.URL, map[string]any{"name": "web-1"}, nil)
	res, err := p.Create(ctx, request(spec, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []func() error{
		func() error { _, err := p.Observe(ctx, request(spec, res.Private)); return err },
		func() error { _, err := p.Update(ctx, request(spec, res.Private)); return err },
		func() error { return p.Delete(ctx, request(spec, res.Private)) },
	} {
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, s := range api.seen() {
		got = append(got, s.Method+" key="+s.Key)
	}
	want := []string{"POST key=key-1", "GET key=", "PUT key=", "DELETE key="}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestAdoptBy(t *testing.T) {
	other := map[string]any{"name": "web-2", "size": 1}
	mine := map[string]any{"name": "web-1", "size": 3}
	tests := map[string]struct {
		op       string // observe, create, delete
		envelope bool
		existing map[string]map[string]any
		// lagList makes the first list answer [] (a list that lags
		// writes); emptyList makes every list answer [].
		lagList, emptyList bool
		uniqueName         bool
		wantClass          string
		wantID             string // the object found or created
		wantRequests       []string
		wantObjects        int
	}{
		"observe finds the object in an array": {
			op: "observe", existing: map[string]map[string]any{"w-8": other, "w-9": mine},
			wantClass: "nil", wantID: "w-9", wantRequests: []string{"GET /v1/widgets"}, wantObjects: 2,
		},
		"observe finds the object in an items envelope": {
			op: "observe", envelope: true, existing: map[string]map[string]any{"w-8": other, "w-9": mine},
			wantClass: "nil", wantID: "w-9", wantRequests: []string{"GET /v1/widgets"}, wantObjects: 2,
		},
		"observe finds nothing": {
			op: "observe", existing: map[string]map[string]any{"w-8": other},
			wantClass: "nil", wantID: "", wantRequests: []string{"GET /v1/widgets"}, wantObjects: 1,
		},
		"observe refuses to pick one of two matches": {
			op: "observe", existing: map[string]map[string]any{"w-8": mine, "w-9": mine},
			wantClass: "conflict", wantRequests: []string{"GET /v1/widgets"}, wantObjects: 2,
		},
		"create adopts a match instead of posting": {
			op: "create", existing: map[string]map[string]any{"w-9": mine},
			wantClass: "nil", wantID: "w-9", wantRequests: []string{"GET /v1/widgets"}, wantObjects: 1,
		},
		"create posts when nothing matches": {
			op: "create", existing: map[string]map[string]any{"w-8": other},
			wantClass: "nil", wantID: "w-1", wantRequests: []string{"GET /v1/widgets", "POST /v1/widgets"}, wantObjects: 2,
		},
		"create adopts after a 409": {
			op: "create", existing: map[string]map[string]any{"w-9": mine}, lagList: true, uniqueName: true,
			wantClass: "nil", wantID: "w-9", wantRequests: []string{"GET /v1/widgets", "POST /v1/widgets", "GET /v1/widgets"}, wantObjects: 1,
		},
		"create 409 with nothing to adopt is a conflict": {
			op: "create", existing: map[string]map[string]any{"w-9": mine}, emptyList: true, uniqueName: true,
			wantClass: "conflict", wantRequests: []string{"GET /v1/widgets", "POST /v1/widgets", "GET /v1/widgets"}, wantObjects: 1,
		},
		"delete without an id finds the object": {
			op: "delete", existing: map[string]map[string]any{"w-8": other, "w-9": mine},
			wantClass: "nil", wantRequests: []string{"GET /v1/widgets", "DELETE /v1/widgets/w-9"}, wantObjects: 1,
		},
		"delete without an id and no match does nothing": {
			op: "delete", existing: map[string]map[string]any{"w-8": other},
			wantClass: "nil", wantRequests: []string{"GET /v1/widgets"}, wantObjects: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			lists := 0
			api := newFakeAPI(t, func(f *fakeAPI) {
				f.envelope = tc.envelope
				f.uniqueName = tc.uniqueName
				f.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
					if r.Method != http.MethodGet || r.URL.Path != collectionPath {
						return false
					}
					lists++
					if tc.emptyList || tc.lagList && lists == 1 {
						reply(w, http.StatusOK, []any{})
						return true
					}
					return false
				}
			})
			for id, o := range tc.existing {
				api.put(id, o)
			}
			p := newTestProvider(newClock())
			ctx := context.Background()
			req := request(widget(t, api.URL, map[string]any{"name": "web-1", "size": 3}, map[string]any{"adoptBy": "name"}), nil)
			var err error
			gotID := ""
			switch tc.op {
			case "observe":
				var obs provider.Observation
				obs, err = p.Observe(ctx, req)
				if err == nil && obs.Exists {
					gotID = obs.Private["id"]
					if d := diff.Compute(schema(), req.Spec, obs.State); !d.Empty() {
						t.Errorf("diff of the found object = %v; want none", d.Paths())
					}
				}
			case "create":
				var res provider.Result
				res, err = p.Create(ctx, req)
				gotID = res.Private["id"]
			case "delete":
				err = p.Delete(ctx, req)
			}
			if got := classOf(err); got != tc.wantClass {
				t.Fatalf("class = %s (err %v); want %s", got, err, tc.wantClass)
			}
			if gotID != tc.wantID {
				t.Errorf("id = %q; want %q", gotID, tc.wantID)
			}
			var got []string
			for _, s := range api.seen() {
				got = append(got, s.Method+" "+s.Path)
			}
			if diff := cmp.Diff(tc.wantRequests, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if got := api.count(); got != tc.wantObjects {
				t.Errorf("objects = %d; want %d", got, tc.wantObjects)
			}
		})
	}
}

func TestReadAfterWriteGrace(t *testing.T) {
	tests := map[string]struct {
		created      string // Private["created"]; empty: none recorded
		age          time.Duration
		wantExists   bool
		wantNotReady string
	}{
		"just created":          {created: "yes", age: 2 * time.Second, wantExists: true, wantNotReady: "waiting for the API to show the new object"},
		"just inside the grace": {created: "yes", age: DefaultGrace - time.Millisecond, wantExists: true, wantNotReady: "waiting for the API to show the new object"},
		"grace over":            {created: "yes", age: DefaultGrace, wantExists: false},
		"no create recorded":    {created: "", age: 0, wantExists: false},
		"unreadable timestamp":  {created: "yesterday", age: 0, wantExists: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			api := newFakeAPI(t, nil) // has no objects: every read is 404
			clk := newClock()
			p := newTestProvider(clk)
			private := map[string]string{"id": "w-1"}
			switch tc.created {
			case "yes":
				private["created"] = clk.Now().Format(time.RFC3339Nano)
			case "":
			default:
				private["created"] = tc.created
			}
			clk.Advance(tc.age)
			spec := widget(t, api.URL, map[string]any{"name": "web-1"}, nil)
			req := request(spec, private)
			req.Outputs = map[string]any{"id": "w-1", "name": "web-1"}
			obs, err := p.Observe(context.Background(), req)
			if err != nil {
				t.Fatalf("Observe: %v", err)
			}
			if obs.Exists != tc.wantExists || obs.NotReady != tc.wantNotReady {
				t.Fatalf("Observe = exists %v, not ready %q; want %v, %q", obs.Exists, obs.NotReady, tc.wantExists, tc.wantNotReady)
			}
			if !obs.Exists {
				return
			}
			// The engine sees nothing to change, keeps the record and
			// observes again: it never creates a second object.
			if d := diff.Compute(schema(), spec, obs.State); !d.Empty() {
				t.Errorf("diff = %v; want none", d.Paths())
			}
			if diff := cmp.Diff(private, obs.Private); diff != "" {
				t.Errorf("Private (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(req.Outputs, obs.Outputs); diff != "" {
				t.Errorf("Outputs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadyWhen(t *testing.T) {
	tests := map[string]struct {
		readyWhen map[string]any
		state     string
		want      string
	}{
		"met":              {readyWhen: map[string]any{"field": "state", "equals": "running"}, state: "running", want: ""},
		"not met":          {readyWhen: map[string]any{"field": "state", "equals": "running"}, state: "pending", want: "state is pending, waiting for running"},
		"field missing":    {readyWhen: map[string]any{"field": "phase", "equals": "up"}, state: "running", want: "phase is not set yet, waiting for up"},
		"nested field met": {readyWhen: map[string]any{"field": "meta.revision", "equals": 1}, state: "pending", want: ""},
		"nested not met":   {readyWhen: map[string]any{"field": "meta.revision", "equals": 2}, state: "pending", want: "meta.revision is 1, waiting for 2"},
		"no readyWhen":     {state: "pending", want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			api := newFakeAPI(t, func(f *fakeAPI) { f.state = tc.state })
			p := newTestProvider(newClock())
			extra := map[string]any{}
			if tc.readyWhen != nil {
				extra["readyWhen"] = tc.readyWhen
			}
			spec := widget(t, api.URL, map[string]any{"name": "web-1"}, extra)
			res, err := p.Create(context.Background(), request(spec, nil))
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			obs, err := p.Observe(context.Background(), request(spec, res.Private))
			if err != nil {
				t.Fatalf("Observe: %v", err)
			}
			if got := []string{res.NotReady, obs.NotReady}; !cmp.Equal(got, []string{tc.want, tc.want}) {
				t.Errorf("NotReady of Create, Observe = %q; want %q for both", got, tc.want)
			}
		})
	}
}

func TestPartialBodyDiff(t *testing.T) {
	desired := map[string]any{"name": "web-1", "size": 3, "labels": map[string]any{"tier": "web"}}
	tests := map[string]struct {
		server map[string]any // the object as the server has it
		want   []string
	}{
		"server-added fields are not changes": {
			server: map[string]any{"name": "web-1", "size": 3, "labels": map[string]any{"tier": "web", "zone": "a"}, "createdAt": "x", "state": "running"},
			want:   nil,
		},
		"a declared field changed on the server": {
			server: map[string]any{"name": "web-1", "size": 4, "labels": map[string]any{"tier": "web"}},
			want:   []string{"body.size"},
		},
		"a declared nested field changed": {
			server: map[string]any{"name": "web-1", "size": 3, "labels": map[string]any{"tier": "db", "zone": "a"}},
			want:   []string{"body.labels.tier"},
		},
		"a declared field removed on the server": {
			server: map[string]any{"name": "web-1", "labels": map[string]any{"tier": "web"}},
			want:   []string{"body.size"},
		},
		"a number as a float is the same number": {
			server: map[string]any{"name": "web-1", "size": 3.0, "labels": map[string]any{"tier": "web"}},
			want:   nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			api := newFakeAPI(t, nil)
			api.put("w-1", tc.server)
			p := newTestProvider(newClock())
			spec := widget(t, api.URL, desired, nil)
			obs, err := p.Observe(context.Background(), request(spec, map[string]string{"id": "w-1"}))
			if err != nil {
				t.Fatalf("Observe: %v", err)
			}
			if diff := cmp.Diff(tc.want, diff.Compute(schema(), spec, obs.State).Paths(), cmpEmpty); diff != "" {
				t.Errorf("diff paths (-want +got):\n%s", diff)
			}
		})
	}
}

// cmpEmpty treats nil and empty slices as equal.
var cmpEmpty = cmp.Comparer(func(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return cmp.Equal(a, b)
})

func TestHeaders(t *testing.T) {
	headers := map[string]any{"Authorization": "Bearer ${env:API_TOKEN}", "X-Tenant": "${env:TENANT}-prod"}
	t.Run("expanded at call time, never stored expanded", func(t *testing.T) {
		var gotAuth, gotTenant string
		api := newFakeAPI(t, func(f *fakeAPI) {
			f.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
				gotAuth, gotTenant = r.Header.Get("Authorization"), r.Header.Get("X-Tenant")
				return false
			}
		})
		p := newTestProvider(newClock())
		spec := widget(t, api.URL, map[string]any{"name": "web-1"}, map[string]any{"headers": headers})
		before := provider.CanonicalMap(spec)
		res, err := p.Create(context.Background(), request(spec, nil))
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if got, want := []string{gotAuth, gotTenant}, []string{"Bearer s3cret-token", "acme-prod"}; !cmp.Equal(got, want) {
			t.Errorf("headers the server saw: %s", cmp.Diff(want, got))
		}
		if diff := cmp.Diff(before, spec); diff != "" {
			t.Errorf("spec changed by the call (-before +after):\n%s", diff)
		}
		obs, err := p.Observe(context.Background(), request(spec, res.Private))
		if err != nil {
			t.Fatalf("Observe: %v", err)
		}
		if _, ok := obs.State["headers"]; ok {
			t.Errorf("State holds headers; want them absent (not observable)")
		}
		changed := widget(t, api.URL, map[string]any{"name": "web-1"}, map[string]any{"headers": map[string]any{"Authorization": "Bearer other"}})
		if d := diff.Compute(schema(), changed, obs.State); !d.Empty() {
			t.Errorf("diff after a header change = %v; want none", d.Paths())
		}
	})

	t.Run("values never appear in errors", func(t *testing.T) {
		api := newFakeAPI(t, func(f *fakeAPI) {
			f.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
				reply(w, http.StatusUnauthorized, map[string]any{"error": "token " + r.Header.Get("Authorization") + " for tenant " + r.Header.Get("X-Tenant") + " is revoked"})
				return true
			}
		})
		p := newTestProvider(newClock())
		spec := widget(t, api.URL, map[string]any{"name": "web-1"}, map[string]any{"headers": headers})
		_, err := p.Create(context.Background(), request(spec, nil))
		if got, want := classOf(err), "terminal"; got != want {
			t.Fatalf("class = %s (%v); want %s", got, err, want)
		}
		for _, secret := range []string{"s3cret", "acme"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the header value %q", err, secret)
			}
		}
		if !strings.Contains(err.Error(), "(sensitive)") || !strings.Contains(err.Error(), "is revoked") {
			t.Errorf("error %q: want the server's message with values masked", err)
		}
	})

	t.Run("encoded echoes never appear in errors", func(t *testing.T) {
		// A header value with the characters encoders escape.
		const hostile = `s3cr"et/\tok+en é-ü`
		hs := map[string]any{"Authorization": "Bearer ${env:API_TOKEN}", "X-Secret": hostile}
		jsonForm, _ := json.Marshal(hostile)
		forms := map[string]func(r *http.Request) string{
			"exact":         func(r *http.Request) string { return r.Header.Get("X-Secret") },
			"json escaped":  func(r *http.Request) string { return string(jsonForm) },
			"json ascii":    func(r *http.Request) string { return `"s3cr\u0022et\/\\tok+en \u00e9-\u00FC"` },
			"query escaped": func(r *http.Request) string { return url.QueryEscape(r.Header.Get("X-Secret")) },
			"path escaped":  func(r *http.Request) string { return url.PathEscape(r.Header.Get("X-Secret")) },
			"auth as query": func(r *http.Request) string { return "?auth=" + url.QueryEscape(r.Header.Get("Authorization")) },
			"token alone":   func(r *http.Request) string { return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") },
			"auth json":     func(r *http.Request) string { b, _ := json.Marshal(r.Header.Get("Authorization")); return string(b) },
			"base64": func(r *http.Request) string {
				return base64.StdEncoding.EncodeToString([]byte(r.Header.Get("X-Secret")))
			},
			"html escaped":   func(r *http.Request) string { return html.EscapeString(r.Header.Get("X-Secret")) },
			"double encoded": func(r *http.Request) string { return url.QueryEscape(url.QueryEscape(r.Header.Get("X-Secret"))) },
		}
		for name, form := range forms {
			for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusInternalServerError, http.StatusBadGateway} {
				t.Run(fmt.Sprintf("%s %d", name, status), func(t *testing.T) {
					var echoed string
					api := newFakeAPI(t, func(f *fakeAPI) {
						f.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
							echoed = form(r)
							w.Header().Set("Content-Type", "text/plain")
							w.WriteHeader(status)
							fmt.Fprintf(w, "upstream rejected credentials [%s] for this request", echoed)
							return true
						}
					})
					p := newTestProvider(newClock())
					spec := widget(t, api.URL, map[string]any{"name": "web-1"}, map[string]any{"headers": hs})
					_, err := p.Observe(context.Background(), request(spec, map[string]string{"id": "w-1"}))
					if err == nil {
						t.Fatal("Observe succeeded")
					}
					for _, leak := range []string{echoed, hostile, "s3cret-token", `s3cr"et`, "s3cr%22et", "tok+en"} {
						if strings.Contains(err.Error(), leak) {
							t.Errorf("error %q holds %q", err, leak)
						}
					}
					if !strings.Contains(err.Error(), "(sensitive)") || !strings.Contains(err.Error(), "for this request") {
						t.Errorf("error %q: want the server's message with the secret masked", err)
					}
				})
			}
		}
	})

	t.Run("a missing variable is terminal and names it", func(t *testing.T) {
		api := newFakeAPI(t, nil)
		p := newTestProvider(newClock())
		spec := widget(t, api.URL, map[string]any{"name": "web-1"}, map[string]any{"headers": map[string]any{"Authorization": "Bearer ${env:MISSING_TOKEN}"}})
		_, err := p.Observe(context.Background(), request(spec, map[string]string{"id": "w-1"}))
		if got, want := classOf(err), "terminal"; got != want {
			t.Fatalf("class = %s (%v); want %s", got, err, want)
		}
		if got, want := err.Error(), "observe "+resourceID+": spec.headers.Authorization: environment variable MISSING_TOKEN is not set"; got != want {
			t.Errorf("error = %q; want %q", got, want)
		}
		if got := len(api.seen()); got != 0 {
			t.Errorf("requests = %d; want none", got)
		}
	})
}

func TestItemURL(t *testing.T) {
	tests := map[string]struct {
		collection, id, want string
	}{
		"plain":                 {collection: "http://h/v1/widgets", id: "w-1", want: "http://h/v1/widgets/w-1"},
		"trailing slash":        {collection: "http://h/v1/widgets/", id: "w-1", want: "http://h/v1/widgets/w-1"},
		"slash in the id":       {collection: "http://h/v1/widgets", id: "a/b", want: "http://h/v1/widgets/a%2Fb"},
		"space and query chars": {collection: "http://h/v1/widgets", id: "a b?c", want: "http://h/v1/widgets/a%20b%3Fc"},
		"query is kept":         {collection: "http://h/v1/widgets?project=x", id: "7", want: "http://h/v1/widgets/7?project=x"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u, err := parseCollection(tc.collection)
			if err != nil {
				t.Fatal(err)
			}
			if got := (target{spec: spec{url: u}}).itemURL(tc.id); got != tc.want {
				t.Errorf("itemURL(%q) = %q; want %q", tc.id, got, tc.want)
			}
		})
	}
}

func TestSchemaCheck(t *testing.T) {
	ok := map[string]any{"url": "http://api/v1/widgets", "body": map[string]any{"name": "a"}}
	with := func(k string, v any) map[string]any {
		s := provider.CanonicalMap(ok)
		s[k] = v
		return s
	}
	tests := map[string]struct {
		spec map[string]any
		want []string // "field: message"
	}{
		"minimal":                   {spec: ok},
		"url with a reference":      {spec: with("url", "http://${cloud.Instance/api.outputs.ip}:9000/v1/widgets")},
		"url scheme":                {spec: with("url", "ftp://api/x"), want: []string{`spec.url: URL "ftp://api/x": scheme must be http or https`}},
		"url without host":          {spec: with("url", "http:///x"), want: []string{`spec.url: URL "http:///x" has no host`}},
		"updateMethod lower case":   {spec: with("updateMethod", "patch")},
		"updateMethod POST":         {spec: with("updateMethod", "POST"), want: []string{`spec.updateMethod: must be PUT or PATCH, got "POST"`}},
		"readyWhen without equals":  {spec: with("readyWhen", map[string]any{"field": "state"}), want: []string{"spec.readyWhen: equals is required"}},
		"readyWhen unknown key":     {spec: with("readyWhen", map[string]any{"field": "state", "equals": "up", "is": 1}), want: []string{`spec.readyWhen: unknown key "is" (want field and equals)`}},
		"header name":               {spec: with("headers", map[string]any{"Bad Header": "x"}), want: []string{`spec.headers: invalid header name "Bad Header"`}},
		"header value not a string": {spec: with("headers", map[string]any{"X-N": 42}), want: []string{"spec.headers: header X-N: value must be a string"}},
		"empty idField":             {spec: with("idField", ""), want: []string{"spec.idField: must not be empty"}},
		"missing body":              {spec: map[string]any{"url": "http://api/v1"}, want: []string{"spec.body: is required"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, e := range schema().Check(tc.spec, provider.IsUnknown) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateSpec(t *testing.T) {
	tests := map[string]struct {
		kind string
		spec map[string]any
		want []provider.FieldError
	}{
		"adoptBy names a body field": {kind: Kind, spec: map[string]any{"adoptBy": "name", "body": map[string]any{"name": "a"}}},
		"adoptBy names no body field": {kind: Kind, spec: map[string]any{"adoptBy": "title", "body": map[string]any{"name": "a"}},
			want: []provider.FieldError{{Field: "spec.adoptBy", Msg: `body has no field "title" to find the object by`}}},
		"unknown kind": {kind: "http.Other", spec: map[string]any{}, want: []provider.FieldError{{Field: "kind", Msg: "unknown kind http.Other for the http provider"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, New().ValidateSpec(tc.kind, tc.spec)); diff != "" {
				t.Errorf("ValidateSpec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSpecErrorsAreTerminal(t *testing.T) {
	tests := map[string]struct {
		spec map[string]any
		want string
	}{
		"unknown value":       {spec: map[string]any{"url": provider.Unknown{Expr: "${a.B/c.outputs.url}"}, "body": map[string]any{}}, want: "spec holds values not known yet"},
		"bad url":             {spec: map[string]any{"url": "nope", "body": map[string]any{}}, want: "spec.url: "},
		"adoptBy not in body": {spec: map[string]any{"url": "http://h/x", "body": map[string]any{}, "adoptBy": "name"}, want: `spec.adoptBy: body has no field "name"`},
		"body not a map":      {spec: map[string]any{"url": "http://h/x", "body": "x"}, want: "spec.body: must be a map"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := New().Observe(context.Background(), request(tc.spec, map[string]string{"id": "1"}))
			if got, want := classOf(err), "terminal"; got != want {
				t.Fatalf("class = %s (%v); want %s", got, err, want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Errorf("error %v is not a *provider.Error", err)
			}
		})
	}
}

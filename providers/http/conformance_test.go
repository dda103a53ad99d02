package httpprovider

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
)

// TestConformance runs the provider conformance suite against fake APIs:
// objects found by their recorded id only, and found by name too
// (adoptBy). A replace moves the object to a second API.
func TestConformance(t *testing.T) {
	for variant, adoptBy := range map[string]string{"by id": "", "adoptBy name": "name"} {
		t.Run(variant, func(t *testing.T) {
			providertest.Run(t, func(t *testing.T) providertest.Harness {
				return httpHarness(t, adoptBy)
			})
		})
	}
}

// Secrets the failing calls send in headers, which servers echo back.
const (
	secretToken = "Bearer s3cr3t-Zk29xQ-token"
	secretKey   = "key-9f8e7d6c5b4a"
)

func httpHarness(t *testing.T, adoptBy string) providertest.Harness {
	api, other := newFakeAPI(t, nil), newFakeAPI(t, nil)
	p := newTestProvider(newClock())
	spec := func(u, name string, size int) map[string]any {
		s := map[string]any{
			"url":     u,
			"body":    map[string]any{"name": name, "size": size},
			"headers": map[string]any{"Authorization": "Bearer ${env:API_TOKEN}"},
		}
		if adoptBy != "" {
			s["adoptBy"] = adoptBy
		}
		return s
	}
	// failing is a spec for a server that answers status to everything,
	// echoing every header value it got.
	failing := func(status int, header http.Header) map[string]any {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var echo []string
			for _, k := range []string{"Authorization", "X-Api-Key"} {
				echo = append(echo, r.Header.Get(k))
			}
			for k, vs := range header {
				w.Header()[k] = vs
			}
			reply(w, status, map[string]any{"error": "refused for " + strings.Join(echo, " and ")})
		}))
		t.Cleanup(srv.Close)
		s := spec(srv.URL+collectionPath, "failing", 1)
		s["headers"] = map[string]any{"Authorization": secretToken, "X-Api-Key": secretKey}
		return s
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	unreachable := spec(closed.URL+collectionPath, "failing", 1)
	unreachable["headers"] = map[string]any{"Authorization": secretToken, "X-Api-Key": secretKey}
	conflict := newFakeAPI(t, func(f *fakeAPI) { f.uniqueName = true })
	conflict.put("w-taken", map[string]any{"name": "failing"})

	id := map[string]string{PrivateID: "w-1"}
	return providertest.Harness{
		Provider:         p,
		Kind:             Kind,
		Spec:             func(name string) map[string]any { return spec(api.URL, name, 1) },
		Updated:          func(name string) map[string]any { return spec(api.URL, name, 2) },
		Replaced:         func(name string) map[string]any { return spec(other.URL, name, 1) },
		CreateIdempotent: true, // the fake API honours Idempotency-Key
		ObserveFinds:     adoptBy != "",
		Objects: func(t *testing.T) map[string]any {
			out := map[string]any{}
			for prefix, f := range map[string]*fakeAPI{"api/": api, "other/": other} {
				for id, o := range f.all() {
					out[prefix+id] = o
				}
			}
			return out
		},
		Tamper: func(t *testing.T, name string, private map[string]string) {
			o := api.get(private[PrivateID])
			if o == nil {
				t.Fatalf("no object %s to tamper with", private[PrivateID])
			}
			o["size"] = 99
			api.put(private[PrivateID], o)
		},
		Failures: []providertest.Failure{
			{Name: "not an http URL", Spec: map[string]any{"url": "ftp://example.com/x", "body": map[string]any{"name": "x"}}, Class: provider.ClassTerminal},
			{Name: "update with no id recorded", Op: providertest.OpUpdate, Spec: spec(api.URL, "failing", 1), Class: provider.ClassTerminal},
			{Name: "create refused (400)", Spec: failing(http.StatusBadRequest, nil), Class: provider.ClassTerminal},
			{Name: "observe refused (403)", Op: providertest.OpObserve, Spec: failing(http.StatusForbidden, nil), Private: id, Class: provider.ClassTerminal},
			{Name: "update on a failing server (500)", Op: providertest.OpUpdate, Spec: failing(http.StatusInternalServerError, nil), Private: id, Class: provider.ClassRetryable},
			{Name: "delete on a failing server (503)", Op: providertest.OpDelete, Spec: failing(http.StatusServiceUnavailable, nil), Private: id, Class: provider.ClassRetryable},
			{Name: "create rate limited (429)", Spec: failing(http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}}), Class: provider.ClassRateLimited},
			{Name: "create on an unreachable server", Spec: unreachable, Class: provider.ClassRetryable},
			{Name: "name taken (409)", Spec: map[string]any{"url": conflict.URL, "body": map[string]any{"name": "failing"}}, Class: provider.ClassConflict},
		},
	}
}

// all returns a copy of every object, by id.
func (f *fakeAPI) all() map[string]any {
	f.mu.Lock()
	ids := make([]string, 0, len(f.objects))
	for id := range f.objects {
		ids = append(ids, id)
	}
	f.mu.Unlock()
	sort.Strings(ids)
	out := make(map[string]any, len(ids))
	for _, id := range ids {
		if o := f.get(id); o != nil {
			out[id] = o
		}
	}
	return out
}

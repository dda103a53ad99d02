package cloudsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Audit returns what the server saw since it started or was last reset.
func (s *Server) Audit() Audit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.audit.snapshot(s.st)
}

// Faults returns the faults in force. OutageFor is always zero: an outage
// for a duration shows as OutageUntil.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetFaults replaces the faults in force. A positive f.OutageFor starts an
// outage that ends OutageFor from now. It returns an error, and changes
// nothing, if f is invalid.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("set faults: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.OutageFor > 0 {
		f.OutageUntil = s.clock.Now().Add(time.Duration(f.OutageFor))
	}
	f.OutageFor = 0
	s.faults = f
	return nil
}

// Expect sets the names expected to exist, per kind (a kind name such as
// "Network" or a collection such as "networks"). From then on the audit
// reports every live object not expected as a leak, including objects of
// kinds not named, and every expected name without a live object as
// missing. A nil map turns the leak check off.
func (s *Server) Expect(names map[string][]string) error {
	var expect map[string]map[string]bool
	if names != nil {
		expect = map[string]map[string]bool{}
		for kn, list := range names {
			k, ok := lookupKind(kn)
			if !ok {
				return fmt.Errorf("expect: unknown kind %q", kn)
			}
			if expect[k.name] == nil {
				expect[k.name] = map[string]bool{}
			}
			for _, n := range list {
				expect[k.name][n] = true
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audit.expect = expect
	return nil
}

// Objects returns every live object, current (without lag), per kind name,
// in creation order.
func (s *Server) Objects() map[string][]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	out := map[string][]map[string]any{}
	for _, k := range kinds {
		out[k.name] = []map[string]any{}
	}
	for _, o := range s.st.sorted() {
		if cur := o.current(); cur != nil {
			out[o.kind.name] = append(out[o.kind.name], s.render(now, o, cur))
		}
	}
	return out
}

// Reset forgets every object, idempotency key, audit figure and
// expectation, and refills the rate limiter. Faults and configuration stay.
// Requests in flight during a reset are answered but may act on the new,
// empty state.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = newState()
	inFlight, mutating := s.audit.inFlight, s.audit.mutating
	s.audit = newAuditor()
	s.audit.inFlight, s.audit.mutating = inFlight, mutating
	s.limiter.reset()
}

// serveAdmin serves the admin endpoints. They are never rate limited,
// faulted or audited.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	res, err := s.admin(r)
	if err != nil {
		res = s.errorResponse(err)
	}
	write(w, res)
}

func (s *Server) admin(r *http.Request) (response, error) {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /admin/faults":
		return response{status: http.StatusOK, body: s.Faults()}, nil
	case "PUT /admin/faults":
		var f Faults
		if err := decodeStrict(r.Body, &f); err != nil {
			return response{}, err
		}
		if err := s.SetFaults(f); err != nil {
			return response{}, unprocessablef("%v", err)
		}
		return response{status: http.StatusOK, body: s.Faults()}, nil
	case "GET /admin/audit":
		return response{status: http.StatusOK, body: s.Audit()}, nil
	case "POST /admin/audit/expect":
		var names map[string][]string
		if err := decodeStrict(r.Body, &names); err != nil {
			return response{}, err
		}
		if names == nil {
			names = map[string][]string{}
		}
		if err := s.Expect(names); err != nil {
			return response{}, unprocessablef("%v", err)
		}
		return response{status: http.StatusNoContent}, nil
	case "DELETE /admin/audit/expect":
		if err := s.Expect(nil); err != nil {
			return response{}, err
		}
		return response{status: http.StatusNoContent}, nil
	case "GET /admin/objects":
		return response{status: http.StatusOK, body: s.Objects()}, nil
	case "POST /admin/reset":
		s.Reset()
		return response{status: http.StatusNoContent}, nil
	}
	for _, p := range []string{"/admin/faults", "/admin/audit", "/admin/audit/expect", "/admin/objects", "/admin/reset"} {
		if r.URL.Path == p {
			return response{}, &apiError{http.StatusMethodNotAllowed, fmt.Sprintf("%s %s is not allowed", r.Method, p)}
		}
	}
	return response{}, notFoundf("no such path %s", r.URL.Path)
}

// decodeStrict decodes one JSON value from body into v, rejecting unknown
// fields.
func decodeStrict(body io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequestf("decode body: %v", err)
	}
	return nil
}

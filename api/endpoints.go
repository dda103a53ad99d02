package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/store"
)

func (h *Handler) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := h.cfg.Readiness.Ready(r.Context()); err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Msg: err.Error()}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// phases are the phases a filter may name.
var phases = []store.Phase{store.PhasePending, store.PhaseWaiting, store.PhaseCreating, store.PhaseUpdating,
	store.PhaseReplacing, store.PhaseDeleting, store.PhaseReady, store.PhaseDrifted, store.PhaseError, store.PhaseFailed}

// resourcePage is a page of the resource list: after the resource named
// by ?after, at most ?limit of them; next names the last one when more
// follow.
type resourcePage struct {
	controller.ResourceList
	Next string `json:"next,omitempty"`
}

func (h *Handler) resources(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := controller.ResourceFilter{Kind: q.Get("kind"), Phase: store.Phase(q.Get("phase"))}
	if f.Phase != "" && !slices.Contains(phases, f.Phase) {
		return badRequest("phase %q: want one of %v", f.Phase, phases)
	}
	if s := q.Get("selector"); s != "" {
		sel, err := controller.ParseSelector(s)
		if err != nil {
			return err
		}
		f.Selector = sel
	}
	if s := q.Get("drifted"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return badRequest("drifted %q: want true or false", s)
		}
		f.Drifted = &b
	}
	limit, err := nonNegative(q.Get("limit"), "limit")
	if err != nil {
		return err
	}
	list, err := h.cfg.Views.Resources(r.Context(), f)
	if err != nil {
		return err
	}
	page := resourcePage{ResourceList: list}
	if after := q.Get("after"); after != "" {
		i, _ := slices.BinarySearchFunc(list.Resources, after, func(it controller.ResourceItem, id string) int {
			return strings.Compare(it.ID, id)
		})
		for i < len(list.Resources) && list.Resources[i].ID <= after {
			i++
		}
		page.Resources = list.Resources[i:]
	}
	if limit > 0 && len(page.Resources) > limit {
		page.Resources = page.Resources[:limit]
		page.Next = page.Resources[limit-1].ID
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func nonNegative(s, name string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, badRequest("%s %q: want a whole number, 0 or more", name, s)
	}
	return n, nil
}

func resourceID(r *http.Request) string { return r.PathValue("kind") + "/" + r.PathValue("name") }

func (h *Handler) resource(w http.ResponseWriter, r *http.Request) error {
	d, err := h.cfg.Views.Resource(r.Context(), resourceID(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (h *Handler) reconcileOne(w http.ResponseWriter, r *http.Request) error {
	if err := decodeBody(r, &struct{}{}); err != nil {
		return err
	}
	id := resourceID(r)
	if err := h.cfg.Actions.Reconcile(r.Context(), id); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"reconciling": id})
	return nil
}

func (h *Handler) reconcileAll(w http.ResponseWriter, r *http.Request) error {
	if err := decodeBody(r, &struct{}{}); err != nil {
		return err
	}
	if err := h.cfg.Actions.ReconcileAll(r.Context()); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"reconciling": "all"})
	return nil
}

func (h *Handler) rollback(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Revision string `json:"revision"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	v, err := h.cfg.Actions.Rollback(r.Context(), body.Revision)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, v)
	return nil
}

func (h *Handler) revisions(w http.ResponseWriter, r *http.Request) error {
	v, err := h.cfg.Views.Revisions(r.Context())
	if err != nil {
		return err
	}
	if v == nil {
		v = []controller.RevisionView{}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (h *Handler) revision(w http.ResponseWriter, r *http.Request) error {
	v, err := h.cfg.Views.Revision(r.Context(), r.PathValue("hash"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// events takes the filters of converge events: resource, since (a
// duration or an RFC 3339 time) and limit.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.EventFilter{Resource: q.Get("resource")}
	if s := q.Get("since"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			f.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, s); err == nil {
			f.Since = t
		} else {
			return badRequest("since %q: want a duration such as 1h or an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
		}
	}
	var err error
	if f.Limit, err = nonNegative(q.Get("limit"), "limit"); err != nil {
		return err
	}
	evs, err := h.cfg.Views.Events(r.Context(), f)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []store.Event{}
	}
	writeJSON(w, http.StatusOK, evs)
	return nil
}

// planBody is converge plan -o json's object, with what the daemon adds.
type planBody struct {
	Revision   string          `json:"revision"`
	Actions    json.RawMessage `json:"actions"`
	Summary    json.RawMessage `json:"summary"`
	Changes    bool            `json:"changes"`
	Incomplete bool            `json:"incomplete,omitempty"`
	Held       string          `json:"held,omitempty"`
	Staying    string          `json:"staying,omitempty"`
}

// planCall is a plan in progress, which the requests that come meanwhile
// share: a plan observes every resource, and one at a time is enough.
type planCall struct {
	done   chan struct{}
	joined int // requests waiting for it, besides the first
	body   planBody
	err    error
}

func (h *Handler) plan(w http.ResponseWriter, r *http.Request) error {
	h.planMu.Lock()
	c := h.planning
	if c != nil {
		c.joined++
		h.planMu.Unlock()
		select {
		case <-c.done:
		case <-r.Context().Done():
			return r.Context().Err()
		}
	} else {
		c = &planCall{done: make(chan struct{})}
		h.planning = c
		h.planMu.Unlock()
		c.body, c.err = h.makePlan(r.Context())
		h.planMu.Lock()
		h.planning = nil
		h.planMu.Unlock()
		close(c.done)
	}
	if c.err != nil {
		return c.err
	}
	writeJSON(w, http.StatusOK, c.body)
	return nil
}

func (h *Handler) makePlan(ctx context.Context) (planBody, error) {
	v, err := h.cfg.Views.Plan(ctx)
	if err != nil {
		return planBody{}, err
	}
	var b bytes.Buffer
	if err := v.Plan.WriteJSON(&b); err != nil {
		return planBody{}, err
	}
	var body planBody
	if err := json.Unmarshal(b.Bytes(), &body); err != nil {
		return planBody{}, err
	}
	body.Incomplete, body.Held, body.Staying = v.Plan.Errors(), v.Held, v.Staying
	return body, nil
}

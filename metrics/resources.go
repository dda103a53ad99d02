package metrics

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/convergehq/converge/store"
)

// resourceState is what the resource gauges show: the kind, phase and
// drift of every record, and the target, kept from the store's changes.
// It is a prometheus.Collector: a scrape counts them.
type resourceState struct {
	mu      sync.RWMutex
	records map[string]resource
	target  string

	resources, drifted, targetDesc *prometheus.Desc
}

type resource struct {
	kind    string
	phase   store.Phase
	drifted bool
}

func newResourceState() *resourceState {
	return &resourceState{
		records: map[string]resource{},
		resources: prometheus.NewDesc("converge_resources", "Resources converge manages, by kind and phase.",
			[]string{"kind", "phase"}, nil),
		drifted: prometheus.NewDesc("converge_resources_drifted", "Resources that stand drifted now (their Drifted condition holds), by kind.",
			[]string{"kind"}, nil),
		targetDesc: prometheus.NewDesc("converge_target_revision", "The target revision: 1, with its hash as a label.",
			[]string{"revision"}, nil),
	}
}

func of(r store.Record) resource {
	drifted := r.Phase == store.PhaseDrifted
	for _, c := range r.Conditions {
		if string(c.Type) == "Drifted" {
			drifted = drifted || string(c.Status) == "True"
		}
	}
	return resource{kind: r.Kind, phase: r.Phase, drifted: drifted}
}

// load lists the records and the target, and returns the watch of what
// changes after them.
func (s *resourceState) load(ctx context.Context, f Feed) (<-chan store.Change, error) {
	seq, err := f.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := f.ListRecords(ctx)
	if err != nil {
		return nil, err
	}
	target, err := f.Target(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	m := make(map[string]resource, len(recs))
	for _, r := range recs {
		m[r.ID] = of(r)
	}
	s.mu.Lock()
	s.records, s.target = m, target
	s.mu.Unlock()
	return f.Watch(ctx, seq)
}

func (s *resourceState) apply(c store.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c.Kind {
	case store.ChangePut:
		if c.Record != nil {
			s.records[c.ID] = of(*c.Record)
		}
	case store.ChangeDelete:
		delete(s.records, c.ID)
	case store.ChangeTarget:
		s.target = c.Target
	}
}

func (s *resourceState) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.resources
	ch <- s.drifted
	ch <- s.targetDesc
}

func (s *resourceState) Collect(ch chan<- prometheus.Metric) {
	type key struct {
		kind  string
		phase store.Phase
	}
	counts := map[key]int{}
	drifted := map[string]int{}
	s.mu.RLock()
	for _, r := range s.records {
		counts[key{r.kind, r.phase}]++
		if r.drifted {
			drifted[r.kind]++
		} else if _, ok := drifted[r.kind]; !ok {
			drifted[r.kind] = 0
		}
	}
	target := s.target
	s.mu.RUnlock()
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(s.resources, prometheus.GaugeValue, float64(n), k.kind, string(k.phase))
	}
	for kind, n := range drifted {
		ch <- prometheus.MustNewConstMetric(s.drifted, prometheus.GaugeValue, float64(n), kind)
	}
	if target != "" {
		ch <- prometheus.MustNewConstMetric(s.targetDesc, prometheus.GaugeValue, 1, target)
	}
}

package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/convergehq/converge/alert"
)

// Alerts reports the deliveries of alerts to webhooks that stats counts
// (alert.Notifier.Stats; nil: none were asked for, all zero) as
// converge_alert_deliveries_total{result}: sent, retry (a failed attempt
// that is tried again), undeliverable (given up) and dropped (the buffer
// was full). Call it once.
func (r *Registry) Alerts(stats func() alert.Stats) {
	if stats == nil {
		stats = func() alert.Stats { return alert.Stats{} }
	}
	r.reg.MustRegister(alertCollector{stats: stats, desc: prometheus.NewDesc("converge_alert_deliveries_total",
		"Deliveries of alerts to webhooks, by result: sent, retry, undeliverable, dropped.", []string{"result"}, nil)})
}

type alertCollector struct {
	stats func() alert.Stats
	desc  *prometheus.Desc
}

func (c alertCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c alertCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, v := range []struct {
		result string
		n      int64
	}{{"sent", s.Sent}, {"retry", s.Retries}, {"undeliverable", s.Undeliverable}, {"dropped", s.Dropped}} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v.n), v.result)
	}
}

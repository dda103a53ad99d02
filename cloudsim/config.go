package cloudsim

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/utils/clock"
)

// Config configures a Server. The zero value is a well-behaved cloud:
// no rate limit, no lag, no provisioning delay, idempotency keys honoured,
// duplicate names allowed, no faults.
type Config struct {
	// Clock is the time source; nil means the real clock.
	Clock clock.Clock
	// Seed seeds object IDs and fault draws; one seed and one sequence of
	// requests give the same IDs and the same faults.
	Seed uint64
	// QPS and Burst configure the token bucket over all API requests. QPS 0
	// disables the limit. Burst below 1 is 1.
	QPS   float64
	Burst int
	// Lag is how far reads (GET by id, lists) trail writes.
	Lag time.Duration
	// ProvisionDelay is how long instances and load balancers stay pending.
	ProvisionDelay time.Duration
	// DisableIdempotency makes the server ignore Idempotency-Key headers.
	DisableIdempotency bool
	// IdempotencyTTL is how long an idempotency key is remembered; zero
	// means 24h.
	IdempotencyTTL time.Duration
	// RejectDuplicates answers 409 to a create or rename that would give two
	// live objects of one kind the same name. By default duplicates are made.
	RejectDuplicates bool
	// Faults are the faults injected from the start; see SetFaults.
	Faults Faults
	// Logger receives one line per API request at debug level and faults at
	// info level; nil discards.
	Logger *slog.Logger
}

// Faults says which failures the server injects into API requests. Each
// request draws its faults independently; rates are fractions in [0, 1].
type Faults struct {
	// ErrorRate is the fraction of requests answered 500 or 503 without
	// acting.
	ErrorRate float64 `json:"errorRate"`
	// Latency is added to every request, plus a uniform random extra in
	// [0, LatencyJitter).
	Latency       Duration `json:"latency"`
	LatencyJitter Duration `json:"latencyJitter"`
	// HangRate is the fraction of requests that block for HangFor (default
	// 30s) or until the client goes away, then answer 504 without acting.
	HangRate float64  `json:"hangRate"`
	HangFor  Duration `json:"hangFor"`
	// AmbiguousRate is the fraction of successful writes (POST, PUT, PATCH,
	// DELETE) that are committed and then answered 500.
	AmbiguousRate float64 `json:"ambiguousRate"`
	// Outage answers every API request 503 until cleared.
	Outage bool `json:"outage"`
	// OutageUntil answers every API request 503 until that time.
	OutageUntil time.Time `json:"outageUntil,omitzero"`
	// OutageFor, when set in SetFaults or PUT /admin/faults, sets
	// OutageUntil to now plus OutageFor. It is never reported back.
	OutageFor Duration `json:"outageFor,omitzero"`
}

// Validate reports the first invalid setting.
func (f Faults) Validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"errorRate", f.ErrorRate}, {"hangRate", f.HangRate}, {"ambiguousRate", f.AmbiguousRate}} {
		if r.v < 0 || r.v > 1 {
			return fmt.Errorf("%s %v is not in [0, 1]", r.name, r.v)
		}
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"latency", f.Latency}, {"latencyJitter", f.LatencyJitter}, {"hangFor", f.HangFor}, {"outageFor", f.OutageFor}} {
		if d.v < 0 {
			return fmt.Errorf("%s %v is negative", d.name, time.Duration(d.v))
		}
	}
	return nil
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("1.5s"). It also reads a JSON number as seconds.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case float64:
		*d = Duration(v * float64(time.Second))
		return nil
	case string:
		p, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("duration %q: %w", v, err)
		}
		*d = Duration(p)
		return nil
	}
	return fmt.Errorf("duration must be a string like \"1.5s\" or a number of seconds, not %s", b)
}

// LogValue implements slog.LogValuer: the settings that are not zero.
func (f Faults) LogValue() slog.Value {
	var attrs []slog.Attr
	for _, r := range []struct {
		key string
		v   float64
	}{{"errorRate", f.ErrorRate}, {"hangRate", f.HangRate}, {"ambiguousRate", f.AmbiguousRate}} {
		if r.v != 0 {
			attrs = append(attrs, slog.Float64(r.key, r.v))
		}
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"latency", f.Latency}, {"latencyJitter", f.LatencyJitter}, {"hangFor", f.HangFor}} {
		if d.v != 0 {
			attrs = append(attrs, slog.Duration(d.key, time.Duration(d.v)))
		}
	}
	if f.Outage {
		attrs = append(attrs, slog.Bool("outage", true))
	}
	if !f.OutageUntil.IsZero() {
		attrs = append(attrs, slog.Time("outageUntil", f.OutageUntil))
	}
	return slog.GroupValue(attrs...)
}

package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convergehq/converge/cloudsim"
)

func TestParseFlags(t *testing.T) {
	defaults := options{
		listen:   "127.0.0.1:9000",
		logLevel: slog.LevelInfo,
		grace:    5 * time.Second,
		cfg: cloudsim.Config{
			Burst: 1, Seed: 1, IdempotencyTTL: 24 * time.Hour,
			Faults: cloudsim.Faults{HangFor: cloudsim.Duration(30 * time.Second)},
		},
	}
	tests := map[string]struct {
		args    []string
		want    func(o *options)
		wantErr string
	}{
		"defaults": {args: nil, want: func(*options) {}},
		"everything": {
			args: []string{"-listen", ":9100", "-qps", "20", "-burst", "5", "-lag", "2s", "-provision-delay", "3s",
				"-no-idempotency", "-idempotency-ttl", "1h", "-reject-duplicates", "-error-rate", "0.3", "-hang-rate", "0.1",
				"-hang-for", "1m", "-ambiguous-rate", "0.05", "-latency", "20ms", "-latency-jitter", "30ms", "-seed", "42",
				"-log-level", "debug", "-log-json", "-shutdown-grace", "1s"},
			want: func(o *options) {
				o.listen, o.logLevel, o.logJSON, o.grace = ":9100", slog.LevelDebug, true, time.Second
				o.cfg = cloudsim.Config{
					QPS: 20, Burst: 5, Lag: 2 * time.Second, ProvisionDelay: 3 * time.Second,
					DisableIdempotency: true, IdempotencyTTL: time.Hour, RejectDuplicates: true, Seed: 42,
					Faults: cloudsim.Faults{ErrorRate: 0.3, HangRate: 0.1, HangFor: cloudsim.Duration(time.Minute),
						AmbiguousRate: 0.05, Latency: cloudsim.Duration(20 * time.Millisecond),
						LatencyJitter: cloudsim.Duration(30 * time.Millisecond)},
				}
			},
		},
		"rate above 1":    {args: []string{"-error-rate", "2"}, wantErr: "errorRate"},
		"negative lag":    {args: []string{"-lag", "-1s"}, wantErr: "must not be negative"},
		"zero burst":      {args: []string{"-burst", "0"}, wantErr: "-burst"},
		"stray argument":  {args: []string{"serve"}, wantErr: "unexpected arguments"},
		"unknown flag":    {args: []string{"-chaos"}, wantErr: "not defined"},
		"bad log level":   {args: []string{"-log-level", "loud"}, wantErr: "log-level"},
		"bad duration":    {args: []string{"-latency", "fast"}, wantErr: "latency"},
		"negative jitter": {args: []string{"-latency-jitter", "-1s"}, wantErr: "latencyJitter"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v; want none", err)
			}
			want := defaults
			tc.want(&want)
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(options{}), cmpopts.IgnoreFields(cloudsim.Config{}, "Clock", "Logger")); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

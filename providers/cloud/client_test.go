package cloud

import (
	"net/http"
	"testing"
	"time"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/rest"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		in   string
		want time.Duration
	}{
		"seconds":          {"3", 3 * time.Second},
		"padded":           {" 2 ", 2 * time.Second},
		"http date":        {now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		"date in the past": {now.Add(-time.Minute).Format(http.TimeFormat), 0},
		"zero":             {"0", 0},
		"negative":         {"-5", 0},
		"garbage":          {"soon", 0},
		"empty":            {"", 0},
		"capped":           {"86400", rest.MaxRetryAfter},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := rest.RetryAfter(tc.in, now); got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %s; want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestResponseErr(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		status    int
		header    http.Header
		body      string
		wantClass provider.Class
		wantAfter time.Duration
		wantMsg   string
	}{
		"429 with Retry-After": {429, http.Header{"Retry-After": {"4"}}, `{"error":"rate limit exceeded"}`, provider.ClassRateLimited, 4 * time.Second,
			"GET http://x/v1/buckets: 429 Too Many Requests: rate limit exceeded"},
		"503":               {503, nil, `{"error":"service unavailable"}`, provider.ClassRetryable, 0, "GET http://x/v1/buckets: 503 Service Unavailable: service unavailable"},
		"422 keeps message": {422, nil, `{"error":"field \"size\": \"huge\" is not one of nano"}`, provider.ClassTerminal, 0, `GET http://x/v1/buckets: 422 Unprocessable Entity: field "size": "huge" is not one of nano`},
		"400 text body":     {400, nil, "bad\n request ", provider.ClassTerminal, 0, "GET http://x/v1/buckets: 400 Bad Request: bad request"},
		"408":               {408, nil, "", provider.ClassRetryable, 0, "GET http://x/v1/buckets: 408 Request Timeout"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &response{method: "GET", url: "http://x/v1/buckets", status: tc.status, header: tc.header, body: []byte(tc.body)}
			if r.header == nil {
				r.header = http.Header{}
			}
			err := r.err(now)
			class, after := provider.Classify(err)
			if class != tc.wantClass || after != tc.wantAfter || err.Error() != tc.wantMsg {
				t.Errorf("got %s after %s: %q; want %s after %s: %q", class, after, err, tc.wantClass, tc.wantAfter, tc.wantMsg)
			}
		})
	}
}

package rest

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := map[string]time.Duration{
		"":          0,
		"7":         7 * time.Second,
		" 3 ":       3 * time.Second,
		"0":         0,
		"-5":        0,
		"999999999": MaxRetryAfter,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
		"soon": 0,
	}
	for in, want := range tests {
		if got := RetryAfter(in, now); got != want {
			t.Errorf("RetryAfter(%q) = %s; want %s", in, got, want)
		}
	}
}

func TestMessage(t *testing.T) {
	tests := map[string]string{
		`{"error": "subnet in use"}`:       "subnet in use",
		`{"message": "bad size"}`:          "bad size",
		`{"error": {"message": "nested"}}`: "nested",
		`{"detail": "d", "title": "t"}`:    "d",
		`{"other": 1}`:                     "",
		"plain   text\nbody":               "plain text body",
		"":                                 "",
	}
	for in, want := range tests {
		if got := Message([]byte(in)); got != want {
			t.Errorf("Message(%q) = %q; want %q", in, got, want)
		}
	}
	long := make([]byte, MaxMessage+50)
	for i := range long {
		long[i] = 'x'
	}
	if got := Truncate(string(long)); len(got) != MaxMessage+3 {
		t.Errorf("Truncate: %d bytes; want %d", len(got), MaxMessage+3)
	}
	if got := StatusText(404); got != "404 Not Found" {
		t.Errorf("StatusText(404) = %q", got)
	}
	if got := StatusText(599); got != "599" {
		t.Errorf("StatusText(599) = %q", got)
	}
}

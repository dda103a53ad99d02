package rest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
)

func TestTransportMessage(t *testing.T) {
	refused := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	cases := map[string]struct {
		reason string
		err    error
		want   string
	}{
		"URLErrorUnwrapped": {
			reason: "The URL an *url.Error repeats is left out: the caller names it.",
			err:    &url.Error{Op: "Get", URL: "http://api.test/v1/things/a", Err: refused},
			want:   refused.Error(),
		},
		"Timeout": {
			reason: "A deadline says it timed out.",
			err:    &url.Error{Op: "Post", URL: "http://api.test/v1", Err: fmt.Errorf("awaiting headers: %w", context.DeadlineExceeded)},
			want:   "timed out: awaiting headers: context deadline exceeded",
		},
		"Canceled": {
			reason: "A cancellation says so.",
			err:    &url.Error{Op: "Get", URL: "http://api.test/v1", Err: context.Canceled},
			want:   "canceled: context canceled",
		},
		"ReadError": {
			reason: "An error reading the body, with no URL, is its own text.",
			err:    errors.New("unexpected EOF"),
			want:   "unexpected EOF",
		},
		"WrappedDeadline": {
			reason: "A deadline wrapped without a URL is a timeout too.",
			err:    fmt.Errorf("read body: %w", context.DeadlineExceeded),
			want:   "timed out: read body: context deadline exceeded",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := TransportMessage(tc.err); got != tc.want {
				t.Errorf("%s\nTransportMessage(%v) = %q; want %q", tc.reason, tc.err, got, tc.want)
			}
		})
	}
}

package provider

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestClassString(t *testing.T) {
	cases := map[string]struct {
		reason string
		class  Class
		want   string
	}{
		"Retryable":   {reason: "The default class.", class: ClassRetryable, want: "retryable"},
		"RateLimited": {reason: "A rate limit.", class: ClassRateLimited, want: "rate-limited"},
		"Terminal":    {reason: "Retrying cannot help.", class: ClassTerminal, want: "terminal"},
		"Conflict":    {reason: "Someone else's object.", class: ClassConflict, want: "conflict"},
		"OutOfRange":  {reason: "A class no constant names reads as the default.", class: Class(99), want: "retryable"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.class.String()); diff != "" {
				t.Errorf("%s\nString(): -want, +got:\n%s", tc.reason, diff)
			}
		})
	}
}

func TestErrorConstructors(t *testing.T) {
	cases := map[string]struct {
		reason string
		err    error
		want   *Error
	}{
		"Terminal": {
			reason: "Terminal marks the error it is given.",
			err:    Terminal(errBoom),
			want:   &Error{Class: ClassTerminal, Err: errBoom},
		},
		"Terminalf": {
			reason: "Terminalf formats, wrapping a %w.",
			err:    Terminalf("spec.mode: %w", errBoom),
			want:   &Error{Class: ClassTerminal, Err: errBoom},
		},
		"Conflictf": {
			reason: "Conflictf makes a conflict.",
			err:    Conflictf("%s is someone else's: %w", "x", errBoom),
			want:   &Error{Class: ClassConflict, Err: errBoom},
		},
		"RateLimited": {
			reason: "RateLimited keeps the pause asked for.",
			err:    RateLimited(errBoom, 7*time.Second),
			want:   &Error{Class: ClassRateLimited, RetryAfter: 7 * time.Second, Err: errBoom},
		},
		"Retryable": {
			reason: "Retryable says explicitly what an unclassified error is.",
			err:    Retryable(errBoom),
			want:   &Error{Class: ClassRetryable, Err: errBoom},
		},
		"Ambiguous": {
			reason: "Ambiguous is retryable and says the call may have taken effect.",
			err:    Ambiguous(errBoom),
			want:   &Error{Class: ClassRetryable, Ambiguous: true, Err: errBoom},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got *Error
			if !errors.As(tc.err, &got) {
				t.Fatalf("%s\n%T is no *Error", tc.reason, tc.err)
			}
			// The fields, the cause compared by errors.Is.
			if diff := cmp.Diff(*tc.want, *got, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("%s\n-want, +got:\n%s", tc.reason, diff)
			}
			if !errors.Is(tc.err, errBoom) {
				t.Errorf("%s\nerrors.Is(err, errBoom) = false; want Unwrap to reach the cause", tc.reason)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	cases := map[string]struct {
		reason string
		err    error
		want   string
	}{
		"Plain": {
			reason: "The class adds nothing to the message.",
			err:    Terminal(errBoom),
			want:   "boom",
		},
		"Formatted": {
			reason: "Terminalf's message is its format's.",
			err:    Terminalf("spec.%s: must be %d", "mode", 4),
			want:   "spec.mode: must be 4",
		},
		"Wrapped": {
			reason: "A wrapped classified error reads as usual.",
			err:    fmt.Errorf("create x: %w", RateLimited(errBoom, time.Second)),
			want:   "create x: boom",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.err.Error()); diff != "" {
				t.Errorf("%s\nError(): -want, +got:\n%s", tc.reason, diff)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	type want struct {
		class Class
		after time.Duration
	}
	cases := map[string]struct {
		reason string
		err    error
		want   want
	}{
		"Nil": {
			reason: "No error is of the default class.",
			err:    nil,
			want:   want{class: ClassRetryable},
		},
		"Unclassified": {
			reason: "An error that carries no class is retryable.",
			err:    errBoom,
			want:   want{class: ClassRetryable},
		},
		"Deadline": {
			reason: "A context deadline is retryable.",
			err:    fmt.Errorf("observe x: %w", context.DeadlineExceeded),
			want:   want{class: ClassRetryable},
		},
		"Terminal": {
			reason: "A terminal error is terminal.",
			err:    Terminal(errBoom),
			want:   want{class: ClassTerminal},
		},
		"WrappedTerminal": {
			reason: "The class is found through wrapping.",
			err:    fmt.Errorf("create x: %w", Terminal(errBoom)),
			want:   want{class: ClassTerminal},
		},
		"Conflict": {
			reason: "A conflict is a conflict.",
			err:    Conflictf("taken"),
			want:   want{class: ClassConflict},
		},
		"RateLimited": {
			reason: "A rate limit says how long to pause.",
			err:    fmt.Errorf("x: %w", RateLimited(errBoom, 3*time.Second)),
			want:   want{class: ClassRateLimited, after: 3 * time.Second},
		},
		"RateLimitedUnknownPause": {
			reason: "A rate limit without a pause leaves it to the engine.",
			err:    RateLimited(errBoom, 0),
			want:   want{class: ClassRateLimited},
		},
		"Ambiguous": {
			reason: "An ambiguous failure is retryable.",
			err:    Ambiguous(errBoom),
			want:   want{class: ClassRetryable},
		},
		"Outermost": {
			reason: "The outermost class wins: a terminal wrapper of a retryable error is terminal.",
			err:    Terminal(fmt.Errorf("giving up: %w", Retryable(errBoom))),
			want:   want{class: ClassTerminal},
		},
		"Joined": {
			reason: "In a join, the first classified error gives the class.",
			err:    errors.Join(errBoom, Conflictf("taken"), Terminal(errBoom)),
			want:   want{class: ClassConflict},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			class, after := Classify(tc.err)
			if diff := cmp.Diff(tc.want, want{class: class, after: after}, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("%s\nClassify(%v): -want, +got:\n%s", tc.reason, tc.err, diff)
			}
		})
	}
}

func TestIsAmbiguous(t *testing.T) {
	cases := map[string]struct {
		reason string
		err    error
		want   bool
	}{
		"Nil":          {reason: "No error is not ambiguous.", err: nil, want: false},
		"Unclassified": {reason: "An error that says nothing is not ambiguous.", err: errBoom, want: false},
		"Retryable":    {reason: "A plain retryable error is not ambiguous.", err: Retryable(errBoom), want: false},
		"Ambiguous":    {reason: "Ambiguous is.", err: Ambiguous(errBoom), want: true},
		"Wrapped":      {reason: "Through wrapping too.", err: fmt.Errorf("create x: %w", Ambiguous(errBoom)), want: true},
		"Terminal":     {reason: "A terminal error is not.", err: Terminal(errBoom), want: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, IsAmbiguous(tc.err)); diff != "" {
				t.Errorf("%s\nIsAmbiguous(%v): -want, +got:\n%s", tc.reason, tc.err, diff)
			}
		})
	}
}

func TestParseClass(t *testing.T) {
	for _, c := range []Class{ClassRetryable, ClassRateLimited, ClassTerminal, ClassConflict} {
		if got := ParseClass(c.String()); got != c {
			t.Errorf("ParseClass(%q) = %v; want %v", c.String(), got, c)
		}
	}
	if got := ParseClass(""); got != ClassRetryable {
		t.Errorf("ParseClass(\"\") = %v; want retryable", got)
	}
	for c, want := range map[Class]bool{ClassRetryable: false, ClassRateLimited: false, ClassTerminal: true, ClassConflict: true} {
		if got := c.Blocks(); got != want {
			t.Errorf("%v.Blocks() = %v; want %v", c, got, want)
		}
	}
}

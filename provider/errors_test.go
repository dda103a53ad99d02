package provider

import (
	"context"
	"encoding/json"
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

// TestClassText: a Class is written as the name records keep today, and
// read back from it, in JSON as elsewhere: the states written before the
// field was typed read back the same.
func TestClassText(t *testing.T) {
	stored := map[Class]string{ClassRetryable: "retryable", ClassRateLimited: "rate-limited", ClassTerminal: "terminal", ClassConflict: "conflict"}
	for c, name := range stored {
		b, err := c.MarshalText()
		if err != nil || string(b) != name || name != c.String() {
			t.Errorf("%v.MarshalText() = %q, %v; want %q, the String form records keep", c, b, err, name)
		}
		var back Class = -1
		if err := back.UnmarshalText([]byte(name)); err != nil || back != c {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", name, back, err, c)
		}
	}

	type record struct {
		ErrorClass Class `json:"errorClass"`
	}
	cases := map[string]struct {
		reason  string
		json    string
		want    Class
		wantErr bool
	}{
		"Terminal":    {reason: "A class as a record keeps it today.", json: `{"errorClass":"terminal"}`, want: ClassTerminal},
		"RateLimited": {reason: "The hyphenated name.", json: `{"errorClass":"rate-limited"}`, want: ClassRateLimited},
		"Conflict":    {reason: "A conflict.", json: `{"errorClass":"conflict"}`, want: ClassConflict},
		"Empty":       {reason: "A record without an error keeps an empty class: retryable, as ParseClass reads it.", json: `{"errorClass":""}`, want: ClassRetryable},
		"Absent":      {reason: "No field is the zero class.", json: `{}`, want: ClassRetryable},
		"Unknown":     {reason: "A name no class has is refused, not guessed.", json: `{"errorClass":"fatal"}`, wantErr: true},
		"Number":      {reason: "The number behind the type is not its stored form.", json: `{"errorClass":2}`, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var r record
			err := json.Unmarshal([]byte(tc.json), &r)
			if (err != nil) != tc.wantErr {
				t.Fatalf("%s\nUnmarshal(%s): error %v; want error %v", tc.reason, tc.json, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if r.ErrorClass != tc.want {
				t.Errorf("%s\nUnmarshal(%s) = %v; want %v", tc.reason, tc.json, r.ErrorClass, tc.want)
			}
			if tc.json == `{}` || tc.json == `{"errorClass":""}` {
				return
			}
			b, err := json.Marshal(r)
			if err != nil || string(b) != tc.json {
				t.Errorf("%s\nMarshal(Unmarshal(%s)) = %s, %v; want it as stored", tc.reason, tc.json, b, err)
			}
		})
	}
}

func TestOpError(t *testing.T) {
	cause := errors.New("quota exceeded")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"with a subject", OpFailed(OpCreate, "web", cause), "create web: quota exceeded"},
		{"without", OpFailed(OpUpdate, "", cause), "update: quota exceeded"},
		{"classified outside", Retryable(OpFailed(OpDelete, "db", cause)), "delete db: quota exceeded"},
		{"classified inside", OpFailed(OpObserve, "db", Terminal(cause)), "observe db: quota exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q; want %q", got, tc.want)
			}
			var named *OpError
			if !errors.As(tc.err, &named) {
				t.Errorf("errors.As finds no OpError in %v", tc.err)
			}
			if !errors.Is(tc.err, cause) {
				t.Errorf("errors.Is does not reach the cause")
			}
		})
	}
	if got, _ := Classify(OpFailed(OpCreate, "web", Terminal(cause))); got != ClassTerminal {
		t.Errorf("class through an OpError = %v; want terminal", got)
	}
	if OpFailed(OpCreate, "web", nil) != nil {
		t.Error("OpFailed of nil is not nil")
	}
}

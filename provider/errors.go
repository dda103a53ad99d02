package provider

import (
	"errors"
	"fmt"
	"time"
)

// Class says how the engine treats an error.
type Class int

// Error classes.
const (
	// ClassRetryable errors are retried with exponential backoff. It is the
	// class of every error that carries no other.
	ClassRetryable Class = iota
	// ClassRateLimited errors pause every call to the provider for RetryAfter.
	ClassRateLimited
	// ClassTerminal errors are not retried until the desired spec changes.
	ClassTerminal
	// ClassConflict means the object exists but is not converge's: converge
	// will not overwrite it. It is not retried until the spec changes or the
	// conflict goes away on a later resync.
	ClassConflict
)

func (c Class) String() string {
	switch c {
	case ClassRateLimited:
		return "rate-limited"
	case ClassTerminal:
		return "terminal"
	case ClassConflict:
		return "conflict"
	}
	return "retryable"
}

// ParseClass reads a class from its String form, as records keep it; an
// unknown or empty name is ClassRetryable.
func ParseClass(s string) Class {
	for _, c := range []Class{ClassRateLimited, ClassTerminal, ClassConflict} {
		if s == c.String() {
			return c
		}
	}
	return ClassRetryable
}

// MarshalText returns c's String form, the one records keep
// ("retryable", "rate-limited", "terminal", "conflict"), so that a Class
// is a name in JSON and YAML rather than a number.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a class from its String form; empty is
// ClassRetryable, as ParseClass has it. A name no class has is an error
// (ParseClass, which reads it as retryable, is for text that may be
// anything).
func (c *Class) UnmarshalText(b []byte) error {
	s := string(b)
	if p := ParseClass(s); s == "" || p.String() == s {
		*c = p
		return nil
	}
	return fmt.Errorf("unknown error class %q: want retryable, rate-limited, terminal or conflict", s)
}

// Blocks reports whether an error of class c keeps a resource from being
// retried until its desired spec changes (terminal errors and conflicts).
func (c Class) Blocks() bool { return c == ClassTerminal || c == ClassConflict }

// Error is a classified provider error.
type Error struct {
	Class      Class
	RetryAfter time.Duration // for ClassRateLimited; zero means unknown
	// Ambiguous marks a retryable failure of a call the remote side may
	// have carried out anyway (a 500 or a timeout after the request went
	// out): a create may exist without the caller knowing its id.
	Ambiguous bool
	Err       error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Terminal marks err as terminal: retrying cannot help.
func Terminal(err error) error { return &Error{Class: ClassTerminal, Err: err} }

// Terminalf is Terminal(fmt.Errorf(format, args...)).
func Terminalf(format string, args ...any) error { return Terminal(fmt.Errorf(format, args...)) }

// Conflictf returns a conflict error: the object exists and is someone else's.
func Conflictf(format string, args ...any) error {
	return &Error{Class: ClassConflict, Err: fmt.Errorf(format, args...)}
}

// RateLimited marks err as a rate-limit answer; after is how long the whole
// provider should pause (zero: let the engine choose).
func RateLimited(err error, after time.Duration) error {
	return &Error{Class: ClassRateLimited, RetryAfter: after, Err: err}
}

// Retryable marks err as retryable. Unclassified errors already are; this
// makes it explicit.
func Retryable(err error) error { return &Error{Class: ClassRetryable, Err: err} }

// Ambiguous marks err as retryable and ambiguous: the call may have taken
// effect. After an ambiguous create the engine gives the object the kind's
// ReadAfterWriteGrace to show up before it creates again.
func Ambiguous(err error) error { return &Error{Class: ClassRetryable, Ambiguous: true, Err: err} }

// IsAmbiguous reports whether err says its call may have taken effect.
func IsAmbiguous(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Ambiguous
}

// Classify returns the class of err and, for rate limits, the pause asked for.
// context deadline errors are retryable.
func Classify(err error) (Class, time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Class, e.RetryAfter
	}
	return ClassRetryable, 0
}

// An Op names a provider call, as an [OpError] says which one failed.
type Op string

// The provider calls.
const (
	OpObserve Op = "observe"
	OpCreate  Op = "create"
	OpUpdate  Op = "update"
	OpDelete  Op = "delete"
)

// An OpError is a failed call that names itself: the operation and, when
// it has one, its subject ("create web: quota exceeded"). The engine
// begins an error with what it was doing ("create: quota exceeded")
// unless the error is, or wraps, an OpError: a provider that names its
// calls is not named twice.
type OpError struct {
	Op      Op
	Subject string // usually the resource's ID; may be empty
	Err     error
}

// Error returns "op subject: cause", or "op: cause" with no subject.
func (e *OpError) Error() string {
	if e.Subject == "" {
		return string(e.Op) + ": " + e.Err.Error()
	}
	return string(e.Op) + " " + e.Subject + ": " + e.Err.Error()
}

// Unwrap returns the cause, so its class and sentinel errors are found.
func (e *OpError) Unwrap() error { return e.Err }

// OpFailed returns err as the failure of op on subject (nil for nil).
func OpFailed(op Op, subject string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Op: op, Subject: subject, Err: err}
}

// Named reports whether err is, or wraps, an [OpError]: the provider named
// the call that failed.
func Named(err error) bool {
	var named *OpError
	return errors.As(err, &named)
}

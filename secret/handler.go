package secret

import (
	"context"
	"fmt"
	"log/slog"
)

// Handler returns a slog.Handler that passes records to h with the message
// and every attribute value redacted by redact: strings, errors and
// Stringers are redacted as text, groups attribute by attribute. Other
// values (numbers, times, durations) pass as they are.
func Handler(h slog.Handler, redact func(string) string) slog.Handler {
	return &handler{h: h, redact: redact}
}

type handler struct {
	h      slog.Handler
	redact func(string) string
}

func (x *handler) Enabled(ctx context.Context, l slog.Level) bool { return x.h.Enabled(ctx, l) }

func (x *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, x.redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(x.attr(a))
		return true
	})
	return x.h.Handle(ctx, out)
}

func (x *handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = x.attr(a)
	}
	return &handler{h: x.h.WithAttrs(red), redact: x.redact}
}

func (x *handler) WithGroup(name string) slog.Handler {
	return &handler{h: x.h.WithGroup(name), redact: x.redact}
}

func (x *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, x.redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, e := range g {
			red[i] = x.attr(e)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		switch t := v.Any().(type) {
		case error:
			return slog.String(a.Key, x.redact(t.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, x.redact(t.String()))
		case []byte:
			return slog.String(a.Key, x.redact(string(t)))
		default:
			return slog.String(a.Key, x.redact(fmt.Sprint(t)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

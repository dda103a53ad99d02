package sqlite

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/convergehq/converge/store"
)

// Encoding records. encodeRecord writes exactly the bytes json.Marshal
// writes for a store.Record (TestEncodeRecordMatchesJSON checks it), a
// few times faster: the fields are written in order by hand, and only
// what the fast paths do not cover (a string to escape, a float, a value
// of another type) goes through encoding/json. The stored form, and so
// every state file, stays what it was.

// encodeRecord returns the JSON encoding of r, as json.Marshal(r). When
// store.Record's fields are not the ones it writes (a field was added),
// it is json.Marshal, and TestEncodeRecordKnowsEveryField fails.
func encodeRecord(r *store.Record) ([]byte, error) {
	if !encoderKnowsRecord {
		return json.Marshal(r)
	}
	e := encoder{b: make([]byte, 0, 1024)}
	e.record(r)
	if e.err != nil {
		return nil, e.err
	}
	return e.b, nil
}

// encodedFields are the fields of each struct, with their JSON tags, that
// the encoder writes, in order.
var encodedFields = map[reflect.Type][]string{
	reflect.TypeFor[store.Record](): {
		`ID json:"id"`, `Kind json:"kind"`, `Name json:"name"`, `Version json:"version,omitempty"`,
		`Phase json:"phase"`, `Message json:"message,omitempty"`, `Origin json:"origin,omitempty"`,
		`AppliedSpec json:"appliedSpec,omitempty"`, `AppliedHash json:"appliedHash,omitempty"`,
		`Outputs json:"outputs,omitempty"`, `Private json:"private,omitempty"`, `Deps json:"deps,omitempty"`,
		`DeletionPolicy json:"deletionPolicy,omitempty"`, `Revision json:"revision,omitempty"`,
		`Conditions json:"conditions,omitempty"`, `Drift json:"drift,omitempty"`,
		`Attempts json:"attempts,omitempty"`, `LastError json:"lastError,omitempty"`,
		`ErrorClass json:"errorClass,omitempty"`, `FailedHash json:"failedHash,omitempty"`,
		`NextRetry json:"nextRetry,omitempty"`, `Pending json:"pending,omitempty"`,
		`Deposed json:"deposed,omitempty"`, `Created json:"created,omitempty"`,
		`Updated json:"updated,omitempty"`, `LastReconcile json:"lastReconcile,omitempty"`,
	},
	reflect.TypeFor[store.Condition](): {
		`Type json:"type"`, `Status json:"status"`, `Reason json:"reason"`,
		`Message json:"message,omitempty"`, `LastTransitionTime json:"lastTransitionTime"`,
	},
	reflect.TypeFor[store.Operation](): {
		`Op json:"op"`, `Key json:"key"`, `SpecHash json:"specHash,omitempty"`, `Spec json:"spec,omitempty"`,
		`Started json:"started"`, `Ambiguous json:"ambiguous,omitempty"`, `Attempted json:"attempted,omitzero"`,
	},
	reflect.TypeFor[store.Instance](): {
		`Spec json:"spec,omitempty"`, `Outputs json:"outputs,omitempty"`, `Private json:"private,omitempty"`,
	},
}

// encoderKnowsRecord says the structs' fields are the ones the encoder
// writes.
var encoderKnowsRecord = unknownFields() == nil

// unknownFields returns what differs between the structs' fields and
// encodedFields.
func unknownFields() []string {
	var diff []string
	for t, want := range encodedFields {
		var got []string
		for f := range t.Fields() {
			got = append(got, fmt.Sprintf("%s %s", f.Name, f.Tag))
		}
		if !slices.Equal(got, want) {
			diff = append(diff, fmt.Sprintf("%s: fields %q; the encoder writes %q", t, got, want))
		}
	}
	return diff
}

// encoder appends JSON to b; the first error stops it.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) record(r *store.Record) {
	e.raw(`{"id":`)
	e.str(r.ID)
	e.raw(`,"kind":`)
	e.str(r.Kind)
	e.raw(`,"name":`)
	e.str(r.Name)
	if r.Version != 0 {
		e.raw(`,"version":`)
		e.b = strconv.AppendInt(e.b, r.Version, 10)
	}
	e.raw(`,"phase":`)
	e.str(string(r.Phase))
	e.optStr(`,"message":`, r.Message)
	e.optStr(`,"origin":`, string(r.Origin))
	e.optMap(`,"appliedSpec":`, r.AppliedSpec)
	e.optStr(`,"appliedHash":`, r.AppliedHash)
	e.optMap(`,"outputs":`, r.Outputs)
	e.optStrings(`,"private":`, r.Private)
	if len(r.Deps) > 0 {
		e.raw(`,"deps":[`)
		for i, d := range r.Deps {
			if i > 0 {
				e.raw(",")
			}
			e.str(d)
		}
		e.raw("]")
	}
	e.optStr(`,"deletionPolicy":`, r.DeletionPolicy)
	e.optStr(`,"revision":`, r.Revision)
	if len(r.Conditions) > 0 {
		e.raw(`,"conditions":[`)
		for i, c := range r.Conditions {
			if i > 0 {
				e.raw(",")
			}
			e.condition(&c)
		}
		e.raw("]")
	}
	e.optStr(`,"drift":`, r.Drift)
	if r.Attempts != 0 {
		e.raw(`,"attempts":`)
		e.b = strconv.AppendInt(e.b, int64(r.Attempts), 10)
	}
	e.optStr(`,"lastError":`, r.LastError)
	if r.ErrorClass != 0 {
		e.raw(`,"errorClass":`)
		text, err := r.ErrorClass.MarshalText()
		if err != nil {
			e.marshal(r.ErrorClass)
		} else {
			e.str(string(text))
		}
	}
	e.optStr(`,"failedHash":`, r.FailedHash)
	e.raw(`,"nextRetry":`)
	e.time(r.NextRetry)
	if r.Pending != nil {
		e.raw(`,"pending":`)
		e.operation(r.Pending)
	}
	if len(r.Deposed) > 0 {
		e.raw(`,"deposed":[`)
		for i := range r.Deposed {
			if i > 0 {
				e.raw(",")
			}
			e.instance(&r.Deposed[i])
		}
		e.raw("]")
	}
	e.raw(`,"created":`)
	e.time(r.Created)
	e.raw(`,"updated":`)
	e.time(r.Updated)
	e.raw(`,"lastReconcile":`)
	e.time(r.LastReconcile)
	e.raw("}")
}

func (e *encoder) condition(c *store.Condition) {
	e.raw(`{"type":`)
	e.str(string(c.Type))
	e.raw(`,"status":`)
	e.str(string(c.Status))
	e.raw(`,"reason":`)
	e.str(string(c.Reason))
	e.optStr(`,"message":`, c.Message)
	e.raw(`,"lastTransitionTime":`)
	e.time(c.LastTransitionTime)
	e.raw("}")
}

func (e *encoder) operation(o *store.Operation) {
	e.raw(`{"op":`)
	e.str(string(o.Op))
	e.raw(`,"key":`)
	e.str(o.Key)
	e.optStr(`,"specHash":`, o.SpecHash)
	e.optMap(`,"spec":`, o.Spec)
	e.raw(`,"started":`)
	e.time(o.Started)
	if o.Ambiguous {
		e.raw(`,"ambiguous":true`)
	}
	if !o.Attempted.IsZero() { // omitzero
		e.raw(`,"attempted":`)
		e.time(o.Attempted)
	}
	e.raw("}")
}

func (e *encoder) instance(in *store.Instance) {
	e.raw("{")
	n := len(e.b)
	e.optMap(`,"spec":`, in.Spec)
	e.optMap(`,"outputs":`, in.Outputs)
	e.optStrings(`,"private":`, in.Private)
	if len(e.b) > n {
		e.b = slices.Delete(e.b, n, n+1) // the first field's comma
	}
	e.raw("}")
}

func (e *encoder) raw(s string) { e.b = append(e.b, s...) }

func (e *encoder) optStr(key, s string) {
	if s != "" {
		e.raw(key)
		e.str(s)
	}
}

func (e *encoder) optMap(key string, m map[string]any) {
	if len(m) > 0 {
		e.raw(key)
		e.object(m)
	}
}

func (e *encoder) optStrings(key string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	e.raw(key)
	e.raw("{")
	for i, k := range sortedKeys(m) {
		if i > 0 {
			e.raw(",")
		}
		e.str(k)
		e.raw(":")
		e.str(m[k])
	}
	e.raw("}")
}

// object writes m with its keys sorted, as encoding/json does.
func (e *encoder) object(m map[string]any) {
	e.raw("{")
	for i, k := range sortedKeys(m) {
		if i > 0 {
			e.raw(",")
		}
		e.str(k)
		e.raw(":")
		e.value(m[k])
	}
	e.raw("}")
}

func (e *encoder) value(v any) {
	switch x := v.(type) {
	case nil:
		e.raw("null")
	case string:
		e.str(x)
	case bool:
		e.b = strconv.AppendBool(e.b, x)
	case int64:
		e.b = strconv.AppendInt(e.b, x, 10)
	case int:
		e.b = strconv.AppendInt(e.b, int64(x), 10)
	case map[string]any:
		if x == nil {
			e.raw("null")
			return
		}
		e.object(x)
	case []any:
		if x == nil {
			e.raw("null")
			return
		}
		e.raw("[")
		for i, y := range x {
			if i > 0 {
				e.raw(",")
			}
			e.value(y)
		}
		e.raw("]")
	default:
		e.marshal(v)
	}
}

// str writes s as a JSON string. A string with nothing to escape, the
// common case, is copied; any other is left to encoding/json, whose
// escaping (HTML characters, invalid UTF-8, U+2028) it then matches.
func (e *encoder) str(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			e.marshal(s)
			return
		}
	}
	e.b = append(e.b, '"')
	e.b = append(e.b, s...)
	e.b = append(e.b, '"')
}

// time writes t as time.Time's MarshalJSON does, RFC 3339 with
// nanoseconds. A time MarshalJSON refuses (a year outside 0-9999, an
// offset not in whole minutes) is left to it, for its error.
func (e *encoder) time(t time.Time) {
	if y := t.Year(); y < 0 || y > 9999 {
		e.marshal(t)
		return
	}
	if _, off := t.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		e.marshal(t)
		return
	}
	e.b = append(e.b, '"')
	e.b = t.AppendFormat(e.b, time.RFC3339Nano)
	e.b = append(e.b, '"')
}

func (e *encoder) marshal(v any) {
	if e.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		e.err = err
		return
	}
	e.b = append(e.b, b...)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

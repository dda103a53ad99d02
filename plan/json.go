package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/provider"
)

// jsonPlan is the JSON form of a plan; its field order is the output's.
type jsonPlan struct {
	Revision string   `json:"revision"`
	Actions  []Action `json:"actions"`
	Summary  Summary  `json:"summary"`
	Changes  bool     `json:"changes"`
}

// WriteJSON renders the plan for machines, as one indented JSON object:
//
//	{"revision": "...", "actions": [...], "summary": {"create": 1, ...}, "changes": true}
//
// Actions keep the plan's order; actions of type none are left out (the
// summary counts them). Sensitive values are masked. Values known only after
// apply are written as the expression that holds them (their change has
// "unknown": true), and non-finite numbers as strings ("NaN", "+Inf"), which
// JSON cannot hold. Field order is stable. It returns an error, having written
// nothing, when an action has an unknown type.
func (p *Plan) WriteJSON(w io.Writer) error {
	if p == nil {
		p = &Plan{}
	}
	if err := p.validate(); err != nil {
		return err
	}
	out := jsonPlan{
		Revision: p.Revision,
		Actions:  []Action{},
		Summary:  p.Summary(),
		Changes:  p.HasChanges(),
	}
	for _, a := range p.Actions {
		if a.Type == None {
			continue
		}
		a.Diff = jsonDiff(a.Diff)
		out.Actions = append(out.Actions, a)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// jsonDiff returns d masked, with every value made encodable.
func jsonDiff(d diff.Diff) diff.Diff {
	d = d.Masked()
	for i := range d {
		d[i].Old = jsonValue(d[i].Old)
		d[i].New = jsonValue(d[i].New)
	}
	return d
}

// jsonValue returns v with Unknown values replaced by their expression and
// non-finite floats by their string form. It copies what it changes.
func jsonValue(v any) any {
	switch x := v.(type) {
	case provider.Unknown:
		return x.Expr
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case float32:
		return jsonValue(float64(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	}
	return v
}

package plan

import "fmt"

// Summary counts a plan's actions by type. Its JSON field order is fixed.
type Summary struct {
	Create   int `json:"create"`
	Update   int `json:"update"`
	Replace  int `json:"replace"`
	Delete   int `json:"delete"`
	Adopt    int `json:"adopt"`
	Forget   int `json:"forget"`
	Wait     int `json:"wait"`
	Blocked  int `json:"blocked"`
	Conflict int `json:"conflict"`
	Drift    int `json:"drift"`
	Error    int `json:"error"`
	None     int `json:"none"`
}

// counter returns the field of s that counts t, or nil for an unknown type.
func (s *Summary) counter(t Type) *int {
	switch t {
	case Create:
		return &s.Create
	case Update:
		return &s.Update
	case Replace:
		return &s.Replace
	case Delete:
		return &s.Delete
	case Adopt:
		return &s.Adopt
	case Forget:
		return &s.Forget
	case Wait:
		return &s.Wait
	case Blocked:
		return &s.Blocked
	case Conflict:
		return &s.Conflict
	case Drift:
		return &s.Drift
	case Error:
		return &s.Error
	case None:
		return &s.None
	}
	return nil
}

// Count returns the number of actions of type t; 0 for an unknown type.
func (s Summary) Count(t Type) int {
	if n := s.counter(t); n != nil {
		return *n
	}
	return 0
}

// Summary counts the plan's actions by type. Actions of an unknown type are
// not counted. A nil plan has no actions.
func (p *Plan) Summary() Summary {
	var s Summary
	if p == nil {
		return s
	}
	for _, a := range p.Actions {
		if n := s.counter(a.Type); n != nil {
			*n++
		}
	}
	return s
}

// HasChanges reports whether applying the plan changes anything: an action
// that calls a provider mutation, or an adopt or forget, which change
// converge's records. Waits, blocks, conflicts and reported drift do not.
func (p *Plan) HasChanges() bool {
	if p == nil {
		return false
	}
	for _, a := range p.Actions {
		if a.Type.Mutating() || a.Type == Adopt || a.Type == Forget {
			return true
		}
	}
	return false
}

// Errors reports whether some resources could not be observed: the plan is
// then incomplete.
func (p *Plan) Errors() bool {
	if p == nil {
		return false
	}
	for _, a := range p.Actions {
		if a.Type == Error {
			return true
		}
	}
	return false
}

// validate checks that every action has a known type, so that a renderer
// never silently drops one.
func (p *Plan) validate() error {
	var s Summary
	for i, a := range p.Actions {
		if s.counter(a.Type) == nil {
			return fmt.Errorf("plan: action %d (%s): unknown action type %q", i, a.ID, a.Type)
		}
	}
	return nil
}

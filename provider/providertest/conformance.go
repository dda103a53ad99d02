package providertest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/provider"
)

// Harness is what the conformance suite needs to know of one kind of one
// provider. Run asks for a new one for each subtest, over a backend of its
// own: what the harness puts there beforehand (objects the specs
// reference, what the Failures meet) the suite leaves alone.
type Harness struct {
	// Provider is the provider under test.
	Provider provider.Provider
	// Kind is the kind under test; Provider.Schemas must declare it.
	Kind string

	// Spec returns a valid spec for the object of the resource named
	// name, as a manifest writes it: the suite puts it in canonical form
	// and applies the schema's defaults, as the engine does. Different
	// names must give different objects.
	Spec func(name string) map[string]any
	// Updated returns Spec(name) with a field changed that Update changes
	// in place (a field that is not ForceNew).
	Updated func(name string) map[string]any
	// Replaced, optional, returns Spec(name) with a ForceNew field changed.
	Replaced func(name string) map[string]any

	// CreateIdempotent says that a second Create with the IdempotencyKey
	// of one that succeeded returns the object the first made and makes
	// none. The suite then counts objects: it needs Objects.
	CreateIdempotent bool
	// ObserveFinds says that Observe of a create's request without
	// Private (what the engine sends after a create whose answer it lost)
	// finds the object the create made. At least one of CreateIdempotent
	// and ObserveFinds must be set: it is how a retried create avoids a
	// second object.
	ObserveFinds bool

	// Objects, optional, reads out of band every object of the kind in the
	// backend, keyed by what identifies it (a path, an id), each as a
	// value cmp.Diff compares and that changes whenever the object is
	// written (with its modification time or version, say). Without it
	// the suite only has the provider's word for what exists.
	Objects func(t *testing.T) map[string]any
	// Tamper, optional, changes out of band a field of the object the
	// resource named name made (private is what the provider returned for
	// it), so that it no longer matches Spec(name) and Update can set it
	// back; with TamperDeletes, it deletes the object instead.
	Tamper func(t *testing.T, name string, private map[string]string)
	// TamperDeletes says that Tamper deletes the object out of band
	// (and returns once it is gone) rather than change a field: for a
	// kind whose objects cannot differ from their spec field by field,
	// only go away (a process, say). The suite then checks that Observe
	// sees it gone and that a Create makes it again.
	TamperDeletes bool
	// PartialCreate, optional, is for a provider whose Create can fail
	// after it made its object (see provider.Provider's Create): it
	// arranges that the next Create of the resource named name makes the
	// object and then fails, and returns what undoes that. The suite
	// checks that the error comes with a Result whose Private names the
	// object, and that the next pass observes that object by it and
	// updates it, making no second one.
	PartialCreate func(t *testing.T, name string) (undo func())
	// Failures, optional, are calls that must fail. To check that errors
	// never show sensitive values, some must set every Sensitive field of
	// the kind.
	Failures []Failure
}

// Failure is a call the provider must refuse, and the class its error must
// have.
type Failure struct {
	// Name names the case in the subtest.
	Name string
	// Op is the call (OpCreate when empty).
	Op Op
	// Kind, when set, replaces the harness's kind in the request.
	Kind string
	// Spec is the request's spec, as a manifest writes it: it is put in
	// canonical form and, when that succeeds, given the schema's defaults.
	Spec map[string]any
	// Private is the request's Private (an id for Update or Delete).
	Private map[string]string
	// Provider, when set, takes the call instead of the harness's
	// (one pointed at an address nothing listens on, say).
	Provider provider.Provider
	// Class is what provider.Classify must say of the error.
	Class provider.Class
}

// Run runs the conformance suite against the provider and kind open
// describes. open is called once per subtest and must return a harness
// over a backend no other subtest touches.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"Schema", testSchema},
		{"ObserveAbsent", testObserveAbsent},
		{"CreateObserve", testCreateObserve},
		{"Update", testUpdate},
		{"Replace", testReplace},
		{"Delete", testDelete},
		{"ObserveNeverMutates", testObserveNeverMutates},
		{"Plan", testPlan},
		{"CreateRetry", testCreateRetry},
		{"PartialCreate", testPartialCreate},
		{"Drift", testDrift},
		{"ErrorsClassified", testErrorsClassified},
		{"SensitiveNotInErrors", testSensitiveNotInErrors},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newSuite(t, open(t)))
		})
	}
}

// suite is one subtest's harness and the kind's schema.
type suite struct {
	h      Harness
	schema provider.Schema
}

func newSuite(t *testing.T, h Harness) *suite {
	t.Helper()
	if h.Provider == nil || h.Spec == nil || h.Updated == nil {
		t.Fatal("harness: Provider, Spec and Updated are required")
	}
	s := &suite{h: h}
	found := false
	for _, sc := range h.Provider.Schemas() {
		if sc.Kind == h.Kind {
			s.schema, found = sc, true
		}
	}
	if !found {
		t.Fatalf("provider %q declares no kind %q", h.Provider.Name(), h.Kind)
	}
	return s
}

// record is what the engine keeps of a resource between calls.
type record struct {
	name    string
	spec    map[string]any // the last applied spec
	outputs map[string]any
	private map[string]string
}

// request is the request of an operation on rec, with a new key.
func (r record) request(kind string) provider.Request {
	return provider.Request{
		ID: kind + "/" + r.name, Kind: kind, Name: r.name,
		Spec: r.spec, Outputs: r.outputs, Private: r.private,
		IdempotencyKey: newKey(),
	}
}

// prepare returns spec as the engine passes it: canonical, checked against
// the schema and the provider's ValidateSpec, defaults applied. A spec
// that does not pass is the harness's fault.
func (s *suite) prepare(t *testing.T, what string, spec map[string]any) map[string]any {
	t.Helper()
	if spec == nil {
		t.Fatalf("harness: %s returned no spec", what)
	}
	c := provider.CanonicalMap(spec)
	if errs := s.schema.Check(c, provider.IsUnknown); len(errs) > 0 {
		t.Fatalf("harness: %s is not a valid %s spec: %v", what, s.h.Kind, errs)
	}
	if v, ok := s.h.Provider.(provider.Validator); ok {
		if errs := v.ValidateSpec(s.h.Kind, c); len(errs) > 0 {
			t.Fatalf("harness: %s does not pass ValidateSpec: %v", what, errs)
		}
	}
	applied, err := s.schema.Apply(c)
	if err != nil {
		t.Fatalf("harness: %s: applying the schema's defaults: %v", what, err)
	}
	return applied
}

func (s *suite) spec(t *testing.T, name string) map[string]any {
	t.Helper()
	return s.prepare(t, fmt.Sprintf("Spec(%q)", name), s.h.Spec(name))
}

// fresh is the record of a resource that has no object yet.
func (s *suite) fresh(t *testing.T, name string) record {
	t.Helper()
	return record{name: name, spec: s.spec(t, name)}
}

// create creates the object of the resource named name with spec and
// returns its record.
func (s *suite) create(t *testing.T, name string, spec map[string]any) record {
	t.Helper()
	rec := record{name: name, spec: spec}
	req := rec.request(s.h.Kind)
	req.Outputs, req.Private = nil, nil
	res, err := s.call(t, OpCreate, req)
	if err != nil {
		t.Fatalf("Create(%s): %v", req.ID, err)
	}
	s.checkOutputs(t, "Create", res.Outputs, res.NotReady)
	return s.applied(rec, res)
}

// applied is rec after a successful Create or Update, as the engine keeps
// it.
func (s *suite) applied(rec record, res provider.Result) record {
	rec.outputs = provider.CanonicalMap(res.Outputs)
	rec.private = res.Private
	return rec
}

// call makes one call and checks that the provider left the request as it
// was.
func (s *suite) call(t *testing.T, op Op, req provider.Request) (provider.Result, error) {
	t.Helper()
	res, _, err := s.callWith(t, s.h.Provider, op, req)
	return res, err
}

func (s *suite) observe(t *testing.T, req provider.Request) (provider.Observation, error) {
	t.Helper()
	_, obs, err := s.callWith(t, s.h.Provider, OpObserve, req)
	return obs, err
}

func (s *suite) callWith(t *testing.T, p provider.Provider, op Op, req provider.Request) (provider.Result, provider.Observation, error) {
	t.Helper()
	before := cloneRequest(req)
	var (
		res provider.Result
		obs provider.Observation
		err error
	)
	ctx := t.Context()
	switch op {
	case OpObserve:
		obs, err = p.Observe(ctx, req)
	case OpCreate, "":
		res, err = p.Create(ctx, req)
	case OpUpdate:
		res, err = p.Update(ctx, req)
	case OpDelete:
		err = p.Delete(ctx, req)
	default:
		t.Fatalf("unknown operation %q", op)
	}
	if d := cmp.Diff(before, req, cmpopts.EquateNaNs()); d != "" {
		t.Errorf("%s(%s) modified its request, which holds the engine's record (-before +after):\n%s", op, req.ID, d)
	}
	return res, obs, err
}

// mustObserve observes rec and fails unless the object exists.
func (s *suite) mustObserve(t *testing.T, rec record) provider.Observation {
	t.Helper()
	req := rec.request(s.h.Kind)
	obs, err := s.observe(t, req)
	if err != nil {
		t.Fatalf("Observe(%s): %v", req.ID, err)
	}
	if !obs.Exists {
		t.Fatalf("Observe(%s) = Exists false; want the object it made", req.ID)
	}
	s.checkOutputs(t, "Observe", obs.Outputs, obs.NotReady)
	return obs
}

// checkMatches fails unless state shows spec, as the engine compares.
func (s *suite) checkMatches(t *testing.T, what string, spec, state map[string]any) {
	t.Helper()
	if state == nil {
		t.Errorf("%s: State is nil; want the observed values of the spec fields", what)
		return
	}
	if d := diff.Compute(s.schema, spec, state); !d.Empty() {
		t.Errorf("%s: the observed state differs from the spec at %s:\n%s", what, strings.Join(d.Paths(), ", "), formatDiff(d))
	}
}

// checkOutputs fails when a ready answer lacks a declared output.
func (s *suite) checkOutputs(t *testing.T, what string, outputs map[string]any, notReady string) {
	t.Helper()
	if notReady != "" {
		return
	}
	var missing []string
	for _, name := range s.schema.Outputs {
		if _, ok := outputs[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: the outputs of a ready object lack %s, which the schema declares (got %v)", what, strings.Join(missing, ", "), provider.SortedKeys(outputs))
	}
}

// objects reads the backend out of band; nil without the hook.
func (s *suite) objects(t *testing.T) map[string]any {
	t.Helper()
	if s.h.Objects == nil {
		return nil
	}
	objs := s.h.Objects(t)
	if objs == nil {
		objs = map[string]any{}
	}
	return objs
}

// checkSame fails unless the backend holds what it held before.
func (s *suite) checkSame(t *testing.T, what string, before map[string]any) {
	t.Helper()
	if s.h.Objects == nil {
		return
	}
	if d := cmp.Diff(before, s.objects(t), cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("%s changed the backend (-before +after):\n%s", what, d)
	}
}

// added returns the keys of after that before lacks, and those it lost.
func added(before, after map[string]any) (add, lost []string) {
	for k := range after {
		if _, ok := before[k]; !ok {
			add = append(add, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			lost = append(lost, k)
		}
	}
	slices.Sort(add)
	slices.Sort(lost)
	return add, lost
}

func testSchema(t *testing.T, s *suite) {
	p := s.h.Provider
	if got, want := provider.ProviderName(s.h.Kind), p.Name(); got != want {
		t.Errorf("kind %s is outside the provider's prefix %q", s.h.Kind, want)
	}
	if _, err := provider.NewRegistry(p); err != nil {
		t.Errorf("NewRegistry(provider): %v", err)
	}
	const name = "schema"
	s.spec(t, name)
	s.prepare(t, fmt.Sprintf("Updated(%q)", name), s.h.Updated(name))
	if s.h.Replaced != nil {
		s.prepare(t, fmt.Sprintf("Replaced(%q)", name), s.h.Replaced(name))
	}
	if !s.h.CreateIdempotent && !s.h.ObserveFinds {
		t.Error("harness: neither CreateIdempotent nor ObserveFinds is set: say how a retried create avoids a second object")
	}
}

func testObserveAbsent(t *testing.T, s *suite) {
	before := s.objects(t)
	req := s.fresh(t, "absent").request(s.h.Kind)
	obs, err := s.observe(t, req)
	if err != nil {
		t.Fatalf("Observe(%s) of an object that does not exist: %v; want a nil error", req.ID, err)
	}
	if obs.Exists {
		t.Errorf("Observe(%s) of an object that does not exist = Exists true (%+v); want false", req.ID, obs)
	}
	s.checkSame(t, "Observe of an absent object", before)
}

func testCreateObserve(t *testing.T, s *suite) {
	before := s.objects(t)
	rec := s.create(t, "created", s.spec(t, "created"))
	obs := s.mustObserve(t, rec)
	s.checkMatches(t, "Observe after Create", rec.spec, obs.State)
	if s.h.Objects != nil {
		add, lost := added(before, s.objects(t))
		if len(add) != 1 || len(lost) != 0 {
			t.Errorf("Create added objects %v and removed %v; want exactly one added", add, lost)
		}
	}
}

func testUpdate(t *testing.T, s *suite) {
	const name = "updated"
	rec := s.create(t, name, s.spec(t, name))
	obs := s.mustObserve(t, rec)
	want := s.prepare(t, fmt.Sprintf("Updated(%q)", name), s.h.Updated(name))
	d := diff.Compute(s.schema, want, obs.State)
	switch {
	case d.Empty():
		t.Fatalf("harness: Updated(%q) does not differ from what Spec(%q) created", name, name)
	case d.ForceNew():
		t.Fatalf("harness: Updated(%q) changes a ForceNew field (%s): that is a replace", name, strings.Join(d.Paths(), ", "))
	}
	before := s.objects(t)

	rec.spec = want
	req := rec.request(s.h.Kind)
	for attempt := 1; attempt <= 2; attempt++ { // the second is a retry
		res, err := s.call(t, OpUpdate, req)
		if err != nil {
			t.Fatalf("Update(%s), attempt %d: %v", req.ID, attempt, err)
		}
		s.checkOutputs(t, "Update", res.Outputs, res.NotReady)
		got := s.applied(rec, res)
		obs = s.mustObserve(t, got)
		s.checkMatches(t, fmt.Sprintf("Observe after Update (attempt %d)", attempt), want, obs.State)
		if s.h.Objects != nil {
			if add, lost := added(before, s.objects(t)); len(add)+len(lost) > 0 {
				t.Errorf("Update (attempt %d) added objects %v and removed %v; want it in place", attempt, add, lost)
			}
		}
	}
}

// forceNew lists the ForceNew fields of schema, sorted.
func forceNew(schema provider.Schema) []string {
	var out []string
	for name, f := range schema.Fields {
		if f.ForceNew {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func testReplace(t *testing.T, s *suite) {
	force := forceNew(s.schema)
	switch {
	case len(force) == 0 && s.h.Replaced == nil:
		t.Skipf("not applicable: %s has no ForceNew field, so no change of its spec replaces an object", s.h.Kind)
	case s.h.Replaced == nil:
		t.Fatalf("harness: %s has ForceNew fields (%s) but the harness gives no Replaced spec", s.h.Kind, strings.Join(force, ", "))
	}
	const name = "replaced"
	old := s.create(t, name, s.spec(t, name))
	obs := s.mustObserve(t, old)
	want := s.prepare(t, fmt.Sprintf("Replaced(%q)", name), s.h.Replaced(name))
	if d := diff.Compute(s.schema, want, obs.State); !d.ForceNew() {
		t.Fatalf("harness: Replaced(%q) changes no ForceNew field (diff: %v)", name, d.Paths())
	}
	before := s.objects(t)

	del := func() {
		t.Helper()
		req := old.request(s.h.Kind)
		if _, err := s.call(t, OpDelete, req); err != nil {
			t.Fatalf("Delete(%s) of the replaced object: %v", req.ID, err)
		}
	}
	if !s.schema.CreateBeforeDestroy {
		del()
	}
	rec := s.create(t, name, want)
	if s.schema.CreateBeforeDestroy {
		del()
	}
	obs = s.mustObserve(t, rec)
	s.checkMatches(t, "Observe after the replace", want, obs.State)
	if s.h.Objects != nil {
		if after := s.objects(t); len(after) != len(before) {
			add, lost := added(before, after)
			t.Errorf("the replace added objects %v and removed %v; want one object for one", add, lost)
		}
	}
}

func testDelete(t *testing.T, s *suite) {
	const name = "deleted"
	before := s.objects(t)
	rec := s.create(t, name, s.spec(t, name))
	s.mustObserve(t, rec)

	req := rec.request(s.h.Kind)
	if _, err := s.call(t, OpDelete, req); err != nil {
		t.Fatalf("Delete(%s): %v", req.ID, err)
	}
	// The engine drops the record once the object is gone.
	gone := record{name: name, spec: rec.spec}
	if obs, err := s.observe(t, gone.request(s.h.Kind)); err != nil || obs.Exists {
		t.Errorf("Observe(%s) after Delete, without the record = Exists %v, error %v; want absent", req.ID, obs.Exists, err)
	}
	obs, err := s.observe(t, rec.request(s.h.Kind))
	switch {
	case err != nil:
		t.Errorf("Observe(%s) after Delete, with the old record: %v; want absent", req.ID, err)
	case obs.Exists && (obs.NotReady == "" || s.schema.ReadAfterWriteGrace == 0):
		t.Errorf("Observe(%s) after Delete, with the old record = Exists (not ready %q, grace %v); want absent, or not ready within the kind's ReadAfterWriteGrace",
			req.ID, obs.NotReady, s.schema.ReadAfterWriteGrace)
	}
	s.checkSame(t, "Create then Delete", before)

	if _, err := s.call(t, OpDelete, req); err != nil {
		t.Errorf("second Delete(%s) of what is gone: %v; want nil", req.ID, err)
	}
	never := s.fresh(t, "never-created").request(s.h.Kind)
	if _, err := s.call(t, OpDelete, never); err != nil {
		t.Errorf("Delete(%s) of an object that never existed: %v; want nil", never.ID, err)
	}
	s.checkSame(t, "Delete of what is gone", before)
}

func testObserveNeverMutates(t *testing.T, s *suite) {
	const name = "observed"
	rec := s.create(t, name, s.spec(t, name))
	if s.h.Objects == nil {
		t.Log("harness gives no Objects: only the provider's own answers are compared")
	}
	before := s.objects(t)
	first := s.mustObserve(t, rec)
	for i := 2; i <= 3; i++ {
		again := s.mustObserve(t, rec)
		if d := cmp.Diff(first, again, cmpopts.EquateNaNs()); d != "" {
			t.Errorf("Observe #%d answered otherwise than the first (-first +now):\n%s", i, d)
		}
	}
	// Without the record (a resource to adopt) and of an absent object.
	if _, err := s.observe(t, record{name: name, spec: rec.spec}.request(s.h.Kind)); err != nil {
		t.Errorf("Observe(%s) without the record: %v", rec.name, err)
	}
	if _, err := s.observe(t, s.fresh(t, "observed-absent").request(s.h.Kind)); err != nil {
		t.Errorf("Observe of an absent object: %v", err)
	}
	s.checkSame(t, "Observe", before)
	if last := s.mustObserve(t, rec); !cmp.Equal(first, last, cmpopts.EquateNaNs()) {
		t.Errorf("Observe after the others answered otherwise than the first:\n%s", cmp.Diff(first, last, cmpopts.EquateNaNs()))
	}
}

func testCreateRetry(t *testing.T, s *suite) {
	if !s.h.CreateIdempotent && !s.h.ObserveFinds {
		t.Fatal("harness: neither CreateIdempotent nor ObserveFinds is set: say how a retried create avoids a second object")
	}
	const name = "retried"
	spec := s.spec(t, name)
	req := record{name: name, spec: spec}.request(s.h.Kind)
	before := s.objects(t)
	if _, err := s.call(t, OpCreate, req); err != nil {
		t.Fatalf("Create(%s): %v", req.ID, err)
	}
	// The answer is lost: the engine knows only the request.
	afterFirst := s.objects(t)

	if s.h.CreateIdempotent {
		if s.h.Objects == nil {
			t.Fatal("harness: CreateIdempotent is set but Objects is not: the suite cannot count objects")
		}
		second, err := s.call(t, OpCreate, req)
		if err != nil {
			t.Fatalf("second Create(%s) with the same IdempotencyKey: %v", req.ID, err)
		}
		if add, lost := added(afterFirst, s.objects(t)); len(add)+len(lost) > 0 {
			t.Errorf("second Create with the same IdempotencyKey added objects %v and removed %v; want the first object back", add, lost)
		}
		rec := s.applied(record{name: name, spec: spec}, second)
		s.checkMatches(t, "Observe after the retried Create", spec, s.mustObserve(t, rec).State)
	}

	if s.h.ObserveFinds {
		obs, err := s.observe(t, req)
		if err != nil {
			t.Fatalf("Observe(%s) with the request of a create whose answer was lost: %v", req.ID, err)
		}
		if !obs.Exists {
			t.Fatalf("Observe(%s) with the request of a create whose answer was lost = Exists false; want the object it made (or the engine creates a second)", req.ID)
		}
		s.checkMatches(t, "Observe of the interrupted create", spec, obs.State)
		// What it found is the object: deleting it leaves nothing.
		found := record{name: name, spec: spec, outputs: provider.CanonicalMap(obs.Outputs), private: obs.Private}
		if _, err := s.call(t, OpDelete, found.request(s.h.Kind)); err != nil {
			t.Fatalf("Delete(%s) with what Observe found: %v", req.ID, err)
		}
		if obs, err := s.observe(t, req); err != nil || obs.Exists {
			t.Errorf("Observe(%s) after deleting what it found = Exists %v, error %v; want absent: Observe found another object than the create made", req.ID, obs.Exists, err)
		}
		s.checkSame(t, "Create, then Delete of what Observe found", before)
	}
}

func testDrift(t *testing.T, s *suite) {
	if s.h.Tamper == nil {
		t.Skip("harness gives no Tamper: drift not checked")
	}
	const name = "drifted"
	rec := s.create(t, name, s.spec(t, name))
	s.mustObserve(t, rec)
	before := s.objects(t)
	s.h.Tamper(t, name, rec.private)
	if s.h.TamperDeletes {
		testGone(t, s, rec, before)
		return
	}
	obs := s.mustObserve(t, rec)
	d := diff.Compute(s.schema, rec.spec, obs.State)
	if d.Empty() {
		t.Fatal("Observe after a change out of band shows no difference from the spec: it does not read the object")
	}
	if d.ForceNew() {
		t.Fatalf("harness: Tamper changed a ForceNew field (%s): Update cannot correct it", strings.Join(d.Paths(), ", "))
	}
	res, err := s.call(t, OpUpdate, rec.request(s.h.Kind))
	if err != nil {
		t.Fatalf("Update(%s) to correct the drift: %v", rec.name, err)
	}
	rec = s.applied(rec, res)
	s.checkMatches(t, "Observe after correcting the drift", rec.spec, s.mustObserve(t, rec).State)
}

// testGone checks that the object of rec, deleted out of band, is seen
// gone and made again by a Create under the record, as the engine does.
func testGone(t *testing.T, s *suite, rec record, before map[string]any) {
	t.Helper()
	req := rec.request(s.h.Kind)
	obs, err := s.observe(t, req)
	if err != nil {
		t.Fatalf("Observe(%s) after its object was deleted out of band: %v", req.ID, err)
	}
	if obs.Exists {
		t.Fatalf("Observe(%s) after its object was deleted out of band = Exists true (%+v); want false, so that the engine makes it again", req.ID, obs)
	}
	if s.h.Objects != nil {
		if add, lost := added(before, s.objects(t)); len(add) != 0 || len(lost) != 1 {
			t.Fatalf("harness: Tamper added objects %v and removed %v; want the one object removed", add, lost)
		}
	}
	res, err := s.call(t, OpCreate, req)
	if err != nil {
		t.Fatalf("Create(%s) of the object deleted out of band: %v", req.ID, err)
	}
	s.checkOutputs(t, "Create", res.Outputs, res.NotReady)
	rec = s.applied(rec, res)
	s.checkMatches(t, "Observe after making again the object deleted out of band", rec.spec, s.mustObserve(t, rec).State)
	if s.h.Objects != nil {
		if after := s.objects(t); len(after) != len(before) {
			add, lost := added(before, after)
			t.Errorf("making the object again added objects %v and removed %v; want one object for the one deleted", add, lost)
		}
	}
}

func testPartialCreate(t *testing.T, s *suite) {
	if s.h.PartialCreate == nil {
		t.Skip("harness gives no PartialCreate: the provider's Create has no partial result to check")
	}
	const name = "partial"
	spec := s.spec(t, name)
	before := s.objects(t)
	rec := record{name: name, spec: spec}
	req := rec.request(s.h.Kind)
	undo := s.h.PartialCreate(t, name)
	res, err := s.call(t, OpCreate, req)
	undo()
	if err == nil {
		t.Fatalf("harness: Create(%s) succeeded with PartialCreate in place; want it to fail after it made the object", req.ID)
	}
	if len(res.Private) == 0 {
		t.Fatalf("Create(%s) failed after it made its object (%v) and returned no Private: the engine cannot find the object made in part, and makes a second", req.ID, err)
	}
	if s.h.Objects != nil {
		if add, lost := added(before, s.objects(t)); len(add) != 1 || len(lost) != 0 {
			t.Fatalf("the partial Create added objects %v and removed %v; want exactly one added (or the harness does not make Create fail after it made the object)", add, lost)
		}
	}
	// The engine records the partial result; the next pass observes the
	// object by it and updates it with the spec.
	rec.outputs, rec.private = provider.CanonicalMap(res.Outputs), res.Private
	s.mustObserve(t, rec)
	res, err = s.call(t, OpUpdate, rec.request(s.h.Kind))
	if err != nil {
		t.Fatalf("Update(%s) of the object a partial Create made: %v", req.ID, err)
	}
	s.checkOutputs(t, "Update", res.Outputs, res.NotReady)
	rec = s.applied(rec, res)
	s.checkMatches(t, "Observe after updating the object a partial Create made", spec, s.mustObserve(t, rec).State)
	if s.h.Objects != nil {
		if add, lost := added(before, s.objects(t)); len(add) != 1 || len(lost) != 0 {
			t.Errorf("after the partial Create and the Update, objects %v were added and %v removed; want the one object the Create made", add, lost)
		}
	}
}

// failureRequest is the request of f, as the engine would send it.
func (s *suite) failureRequest(f Failure) (provider.Provider, provider.Request) {
	kind := s.h.Kind
	if f.Kind != "" {
		kind = f.Kind
	}
	spec := provider.CanonicalMap(f.Spec)
	if kind == s.h.Kind {
		if applied, err := s.schema.Apply(spec); err == nil {
			spec = applied
		}
	}
	p := s.h.Provider
	if f.Provider != nil {
		p = f.Provider
	}
	const name = "failing"
	return p, provider.Request{ID: kind + "/" + name, Kind: kind, Name: name, Spec: spec, Private: f.Private, IdempotencyKey: newKey()}
}

func (s *suite) fail(t *testing.T, f Failure) error {
	t.Helper()
	p, req := s.failureRequest(f)
	op := f.Op
	if op == "" {
		op = OpCreate
	}
	_, _, err := s.callWith(t, p, op, req)
	if err == nil {
		t.Errorf("harness: %s(%s) of case %q succeeded; want it to fail", op, req.ID, f.Name)
	}
	return err
}

func testErrorsClassified(t *testing.T, s *suite) {
	if len(s.h.Failures) == 0 {
		t.Skip("harness gives no Failures: error classes not checked")
	}
	for _, f := range s.h.Failures {
		t.Run(f.Name, func(t *testing.T) {
			err := s.fail(t, f)
			if err == nil {
				return
			}
			got, _ := provider.Classify(err)
			var pe *provider.Error
			explicit := errors.As(err, &pe)
			switch {
			case got != f.Class && !explicit:
				t.Errorf("the error carries no class (Classify falls back to %s); want %s: %v", got, f.Class, err)
			case got != f.Class:
				t.Errorf("Classify = %s; want %s: %v", got, f.Class, err)
			}
		})
	}
}

// minSecret is the shortest sensitive value the suite looks for: a shorter
// one could show up in a message by chance.
const minSecret = 8

func testSensitiveNotInErrors(t *testing.T, s *suite) {
	var fields []string
	for _, name := range s.schema.FieldNames() {
		if s.schema.Fields[name].Sensitive {
			fields = append(fields, name)
		}
	}
	if len(fields) == 0 {
		t.Skipf("%s declares no Sensitive field", s.h.Kind)
	}
	if len(s.h.Failures) == 0 {
		t.Skipf("harness gives no Failures: the values of %s are not checked", strings.Join(fields, ", "))
	}
	covered := map[string]bool{}
	for _, f := range s.h.Failures {
		var secrets []string
		for _, field := range fields {
			v, ok := f.Spec[field]
			if !ok {
				continue
			}
			leaves := stringLeaves(provider.Canonical(v))
			for _, l := range leaves {
				if len(l) < minSecret {
					t.Fatalf("harness: case %q sets %s to a value of %d characters; use at least %d, so that a leak is not chance", f.Name, field, len(l), minSecret)
				}
			}
			if len(leaves) > 0 {
				covered[field] = true
				secrets = append(secrets, leaves...)
			}
		}
		if len(secrets) == 0 {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			err := s.fail(t, f)
			if err == nil {
				return
			}
			msg := err.Error()
			for _, v := range secrets {
				for _, form := range encodings(v) {
					if strings.Contains(msg, form) {
						t.Errorf("the error shows the value of a Sensitive field (as %q): %s", form, msg)
					}
				}
			}
		})
	}
	for _, field := range fields {
		if !covered[field] {
			t.Errorf("harness: no Failure sets Sensitive field %s: add one, so that its value is looked for in errors", field)
		}
	}
}

// stringLeaves returns every non-empty string in v, the keys of maps
// aside.
func stringLeaves(v any) []string {
	switch x := v.(type) {
	case string:
		if x != "" {
			return []string{x}
		}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, stringLeaves(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, k := range provider.SortedKeys(x) {
			out = append(out, stringLeaves(x[k])...)
		}
		return out
	}
	return nil
}

// encodings returns the forms a leaked secret may take in a message.
func encodings(v string) []string {
	q := strconv.Quote(v)
	forms := []string{v, q[1 : len(q)-1], url.QueryEscape(v), url.PathEscape(v), base64.StdEncoding.EncodeToString([]byte(v))}
	slices.Sort(forms)
	return slices.Compact(forms)
}

func formatDiff(d diff.Diff) string {
	var b strings.Builder
	for _, c := range d.Masked() {
		b.WriteString("\t" + c.String() + "\n")
	}
	return b.String()
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// cloneRequest copies req deeply, to compare after a call.
func cloneRequest(req provider.Request) provider.Request {
	c := req
	c.Spec, _ = deepCopy(req.Spec).(map[string]any)
	c.Outputs, _ = deepCopy(req.Outputs).(map[string]any)
	if req.Private != nil {
		c.Private = make(map[string]string, len(req.Private))
		for k, v := range req.Private {
			c.Private[k] = v
		}
	}
	return c
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return x
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		if x == nil {
			return x
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// testPlan checks a provider that plans its own changes (provider.Planner):
// no change for the spec it holds, an update for a field Update changes,
// a replace naming its paths for a ForceNew field, and never a change to
// the backend.
func testPlan(t *testing.T, s *suite) {
	pl, ok := s.h.Provider.(provider.Planner)
	if !ok {
		t.Skip("not a provider.Planner: the engine plans its changes")
	}
	const name = "planned"
	rec := s.create(t, name, s.spec(t, name))
	obs := s.mustObserve(t, rec)
	before := s.objects(t)
	plan := func(what string, spec map[string]any) provider.Planned {
		t.Helper()
		req := provider.PlanRequest{ID: s.h.Kind + "/" + name, Kind: s.h.Kind, Name: name, Spec: spec, Applied: rec.spec, Observed: obs, Private: rec.private}
		p, err := pl.PlanChange(t.Context(), req)
		if err != nil {
			t.Fatalf("PlanChange(%s) for %s: %v", req.ID, what, err)
		}
		return p
	}
	if p := plan("the spec it holds", rec.spec); p.Action != provider.PlanNoop {
		t.Errorf("PlanChange for the spec the object holds: %s %v; want %s", p.Action, p.Paths, provider.PlanNoop)
	}
	if p := plan("Updated", s.prepare(t, fmt.Sprintf("Updated(%q)", name), s.h.Updated(name))); p.Action != provider.PlanUpdate {
		t.Errorf("PlanChange for Updated(%q): %s %v; want %s", name, p.Action, p.Paths, provider.PlanUpdate)
	}
	if s.h.Replaced != nil {
		p := plan("Replaced", s.prepare(t, fmt.Sprintf("Replaced(%q)", name), s.h.Replaced(name)))
		if p.Action != provider.PlanReplace || len(p.ReplacePaths) == 0 {
			t.Errorf("PlanChange for Replaced(%q): %s, replace paths %v; want %s naming the fields that force it", name, p.Action, p.ReplacePaths, provider.PlanReplace)
		}
	}
	s.checkSame(t, "PlanChange", before)
}

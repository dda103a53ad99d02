// Package providertest helps test providers and what runs them.
//
// Run is the conformance suite every provider.Provider runs, once per kind,
// so that the engine can rely on one behaviour whatever the provider:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, func(t *testing.T) providertest.Harness {
//			p := newProviderOverAnEmptyBackend(t)
//			return providertest.Harness{Provider: p, Kind: "file.File", Spec: ..., Updated: ...}
//		})
//	}
//
// It calls the provider as the engine does (specs in provider.Canonical
// form with the schema's defaults applied, a new IdempotencyKey per
// logical operation, the Private and Outputs of the last answer passed
// back) and checks this contract, each point as a subtest:
//
//  1. Schema: the provider declares the kind under its name, a registry
//     accepts it, and the harness's specs pass Schema.Check and the
//     provider's ValidateSpec.
//  2. ObserveAbsent: Observe of an object that does not exist is
//     Exists false with a nil error.
//  3. CreateObserve: Create makes one object; Observe, with what Create
//     returned, finds it with a State that diff.Compute finds equal to the
//     spec (defaults applied, computed fields and fields the provider
//     cannot read ignored, as the engine compares); a ready answer
//     carries every output the schema declares.
//  4. Update: Update changes the object in place (no object is added or
//     removed), Observe shows the new spec, and a retried Update (same
//     request, same key) succeeds and changes nothing more.
//  5. Replace: when a ForceNew field changes, the engine's replace (delete
//     then create, or create first when the schema says
//     CreateBeforeDestroy) leaves one object, with the new spec. A kind
//     whose schema has a ForceNew field needs a Replaced spec; one that
//     has none is not applicable, as its schema says (nothing replaces
//     its objects).
//  6. Delete: Delete succeeds, Observe then says absent (with the record
//     dropped, as the engine does; with the old Private it is absent, or
//     not ready within the kind's ReadAfterWriteGrace), the backend is as
//     before the create, a second Delete succeeds, and so does a Delete of
//     an object that never existed.
//  7. ObserveNeverMutates: repeated Observes (with the record, without
//     it, of an absent object) answer the same and leave the backend as it
//     was.
//  8. Plan, for a provider.Planner: PlanChange plans no change for the
//     spec the object holds, an update for the Updated spec, a replace
//     naming the fields that force it for the Replaced spec, and changes
//     nothing in the backend. (Other providers skip it: the engine plans
//     for them.)
//  9. CreateRetry: a create retried after its answer was lost makes no
//     second object. Where the provider claims it (CreateIdempotent), a
//     second Create with the same IdempotencyKey adds no object and
//     returns the first; where it relies on finding by name
//     (ObserveFinds), Observe of the create's request, without Private,
//     finds the object, and a Delete with what it found removes it.
//  10. PartialCreate, for a provider whose Create can fail after it made
//     its object (the harness says so with PartialCreate, which makes the
//     next Create do that): the error comes with a Result whose Private
//     names the object, Observe with it finds the object, and Update
//     completes it, leaving one object.
//  11. Drift: a change made out of band (Tamper) shows as a diff, and
//     Update corrects it; for a kind whose objects can only go away out
//     of band (TamperDeletes: a process is killed), Observe sees the
//     object gone and a Create under the record makes it again, leaving
//     one object.
//  12. ErrorsClassified: each call the harness says must fail (Failures)
//     fails, with an error provider.Classify puts in the class the harness
//     names (an error that carries no class is retryable, as package
//     provider says: a terminal, conflict or rate-limit answer must be
//     marked).
//  13. SensitiveNotInErrors: for every field the schema marks Sensitive,
//     no failing call's error contains the value (as written,
//     JSON-escaped, URL-escaped or in base64).
//
// Every call also checks that the provider leaves its request as it was:
// a request's maps are the engine's records. Checks that need an optional
// hook the harness lacks say so and skip; a harness whose premise does not
// hold (an Updated spec that changes nothing, a Failure that does not
// fail) fails the suite.
//
// The package also holds providers for tests and benchmarks: Memory, an
// in-memory provider with no latency that checks the engine's guarantees
// as it goes (never two mutations of one object at once, never a create
// of an object that exists); Faulty, a wrapper that injects errors,
// delays and rate limits into any provider; and Funcs, a provider made of
// function fields (PlanningFuncs, one that also plans).
package providertest

package engine

// Reconcile makes a running engine reconcile id at once, as a provider's
// notification does (an API's request, say). It reports whether the engine
// desires or records id; an unknown ID is not queued.
func (e *Engine) Reconcile(id string) bool {
	e.mu.Lock()
	_, recorded := e.records[id]
	_, desired := e.target.Get(id)
	e.mu.Unlock()
	if !recorded && !desired {
		return false
	}
	e.changed(id)
	return true
}

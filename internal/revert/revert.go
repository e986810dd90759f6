// Package revert is the undo stack every create path in zoned uses: each
// step that changes the host pushes its undo, and unless the whole path
// succeeds the undos run in reverse order.
//
//	r := revert.New()
//	defer r.Fail()
//	... r.Add(func() { undo step 1 }) ...
//	r.Success()
package revert

// Reverter collects undo functions.
type Reverter struct {
	undo []func()
	done bool
}

// New returns an empty Reverter.
func New() *Reverter { return &Reverter{} }

// Add pushes an undo function.
func (r *Reverter) Add(f func()) { r.undo = append(r.undo, f) }

// Fail runs the undo functions in reverse order unless Success was called.
// It is meant to be deferred.
func (r *Reverter) Fail() {
	if r.done {
		return
	}
	r.done = true
	for i := len(r.undo) - 1; i >= 0; i-- {
		r.undo[i]()
	}
}

// Success marks the path as complete: a later Fail does nothing.
func (r *Reverter) Success() { r.done = true }

// Clone hands the pending undos to a new Reverter and disarms r, for a path
// that succeeds now but must be undone by a later step.
func (r *Reverter) Clone() *Reverter {
	c := &Reverter{undo: append([]func(){}, r.undo...)}
	r.done = true
	return c
}

//go:build linux

package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/store"
)

// Finished operations stay in the store for clients that ask late, up to
// this many and this long.
const (
	maxFinishedOperations = 500
	finishedOperationTTL  = 7 * 24 * time.Hour
)

// closeWait is how long Close lets cancelled operations undo their work
// before the daemon exits; those still going are dealt with by the next
// daemon's restart handlers.
const closeWait = 10 * time.Second

// OpFunc is slow work run as an operation. ctx ends when a client cancels
// the operation (DELETE /v1/operations/{id}) or the daemon stops; the work
// then undoes what it did and returns. progress reports percent and a
// message.
type OpFunc func(ctx context.Context, progress func(int, string)) error

// RestartFunc deals with an operation of its kind that a daemon died in
// the middle of: it undoes the work (api.OutcomeRolledBack), finishes it
// (api.OutcomeResumed) or finds it had finished (api.OutcomeCompleted),
// and returns which.
type RestartFunc func(ctx context.Context, op *api.Operation) (outcome string, err error)

// operations runs slow work that API calls start and return at once, and
// keeps every operation's record in the store, so clients can follow it
// across daemon restarts and the next daemon knows what was interrupted.
type operations struct {
	store *store.Store
	log   *slog.Logger
	// publish tells event subscribers of progress; nil publishes nothing.
	publish func(api.Event)
	// onRestart holds each kind's RestartFunc; kinds without one are
	// marked failed after a restart.
	onRestart map[string]RestartFunc

	mu      sync.Mutex
	running map[string]*operation
	wg      sync.WaitGroup
}

type operation struct {
	mu   sync.Mutex
	op   api.Operation
	done chan struct{}
	// cancel is nil for work that cannot stop cleanly.
	cancel    context.CancelFunc
	cancelled bool
	// saved is the progress last written to the store: progress is
	// persisted when the percentage moves, not on every message.
	saved int
}

func newOperations(st *store.Store, log *slog.Logger) *operations {
	return &operations{store: st, log: log, running: map[string]*operation{}, onRestart: map[string]RestartFunc{}}
}

// start runs fn in the background and returns its operation at once. The
// operation is persisted; it cannot be cancelled, because fn has no
// context to stop by. Work that can stop uses startCtx.
func (o *operations) start(kind, target string, fn func(progress func(int, string)) error) *api.Operation {
	return o.run(kind, target, false, func(_ context.Context, p func(int, string)) error { return fn(p) })
}

// startCtx runs fn in the background as an operation that DELETE
// /v1/operations/{id} can cancel: fn's context ends and fn undoes its work.
func (o *operations) startCtx(kind, target string, fn OpFunc) *api.Operation {
	return o.run(kind, target, true, fn)
}

func (o *operations) run(kind, target string, cancellable bool, fn OpFunc) *api.Operation {
	now := time.Now().UTC()
	op := &operation{
		op: api.Operation{
			ID: newUUID(), Kind: kind, Target: target,
			Status: api.OperationRunning, CreatedAt: now, UpdatedAt: now,
		},
		done: make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	if cancellable {
		op.cancel = cancel
	}
	o.save(&op.op)
	o.mu.Lock()
	o.running[op.op.ID] = op
	o.wg.Add(1)
	o.mu.Unlock()

	progress := func(pct int, msg string) {
		op.mu.Lock()
		defer op.mu.Unlock()
		if pct > op.op.Progress {
			op.op.Progress = min(pct, 100)
		}
		op.op.Message = msg
		op.op.UpdatedAt = time.Now().UTC()
		if op.op.Progress != op.saved {
			op.saved = op.op.Progress
			o.save(&op.op)
		}
		o.event(api.EventOperationProgress, &op.op)
	}
	go func() {
		defer o.wg.Done()
		defer cancel()
		err := fn(ctx, progress)
		op.mu.Lock()
		switch {
		case err != nil && op.cancelled:
			op.op.Status = api.OperationCancelled
			op.op.Err = &api.Error{Code: "cancelled", Message: err.Error()}
		case err != nil:
			op.op.Status = api.OperationFailure
			op.op.Err = &api.Error{Code: errdefs.Code(err), Message: err.Error(), Field: errdefs.Field(err)}
		default:
			op.op.Status = api.OperationSuccess
			op.op.Progress = 100
		}
		op.op.UpdatedAt = time.Now().UTC()
		o.save(&op.op)
		o.event(api.EventOperationDone, &op.op)
		op.mu.Unlock()
		close(op.done)
		o.mu.Lock()
		delete(o.running, op.op.ID)
		o.mu.Unlock()
		o.prune()
	}()
	return op.snapshot()
}

// save writes op's record; a store that fails costs clients the record
// after a restart, not the work, so it is logged and the work goes on.
func (o *operations) save(op *api.Operation) {
	if o.store == nil {
		return
	}
	if err := o.store.PutOperation(op); err != nil {
		o.log.Warn("persist operation", "operation", op.ID, "kind", op.Kind, "err", err)
	}
}

func (o *operations) prune() {
	if o.store == nil {
		return
	}
	if _, err := o.store.PruneOperations(maxFinishedOperations, time.Now().Add(-finishedOperationTTL)); err != nil {
		o.log.Warn("prune operations", "err", err)
	}
}

// event publishes op's state; called with op's lock held.
func (o *operations) event(typ string, op *api.Operation) {
	if o.publish == nil {
		return
	}
	e := api.Event{Time: op.UpdatedAt, Type: typ, Operation: op.ID, Message: op.Message, State: string(op.Status), Progress: op.Progress}
	if op.Err != nil {
		e.Message = op.Err.Message
	}
	o.publish(e)
}

func (op *operation) snapshot() *api.Operation {
	op.mu.Lock()
	defer op.mu.Unlock()
	c := op.op
	return &c
}

// get returns a running operation, or a finished one from the store (its
// done channel closed).
func (o *operations) get(id string) (*operation, error) {
	o.mu.Lock()
	op := o.running[id]
	o.mu.Unlock()
	if op != nil {
		return op, nil
	}
	if o.store != nil {
		rec, err := o.store.GetOperation(id)
		if err == nil {
			done := make(chan struct{})
			close(done)
			return &operation{op: *rec, done: done}, nil
		}
		if !errors.Is(err, errdefs.ErrNotFound) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("operation %q: %w", id, errdefs.ErrNotFound)
}

// cancelOp asks a running operation to stop; it ends as "cancelled" once
// its work has undone itself.
func (o *operations) cancelOp(id string) (*api.Operation, error) {
	op, err := o.get(id)
	if err != nil {
		return nil, err
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	switch {
	case op.op.Status != api.OperationRunning:
		return nil, fmt.Errorf("cancel operation %s: it has already ended (%s): %w", id, op.op.Status, errdefs.ErrConflict)
	case op.cancel == nil:
		return nil, fmt.Errorf("cancel operation %s: %s work cannot stop cleanly: %w", id, op.op.Kind, errdefs.ErrConflict)
	}
	op.cancelled = true
	op.op.Message = "cancelling"
	op.cancel()
	c := op.op
	return &c, nil
}

// close cancels running operations and waits a while for them to undo
// their work; what is still running is left to the next daemon.
func (o *operations) close() {
	o.mu.Lock()
	for _, op := range o.running {
		op.mu.Lock()
		if op.cancel != nil {
			op.cancelled = true
			op.op.Message = "cancelled: the daemon stopped"
			op.cancel()
		}
		op.mu.Unlock()
	}
	o.mu.Unlock()
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeWait):
		o.log.Warn("operations still running at exit; the next start rolls them back or resumes them")
	}
}

// recoverInterrupted deals with the operations a daemon died in the middle
// of, each by its kind's RestartFunc, and records the outcome. It runs in
// reconcile, before any new operation can start.
func (o *operations) recoverInterrupted(ctx context.Context) error {
	ops, err := o.store.ListOperations()
	if err != nil {
		return fmt.Errorf("list operations: %w", err)
	}
	for _, op := range ops {
		if op.Status != api.OperationRunning {
			continue
		}
		outcome, err := "", error(nil)
		if fn := o.onRestart[op.Kind]; fn != nil {
			outcome, err = fn(ctx, op)
		} else {
			err = fmt.Errorf("%s work cannot be resumed or undone: %w", op.Kind, errdefs.ErrUnavailable)
		}
		op.Outcome = outcome
		op.UpdatedAt = time.Now().UTC()
		switch {
		case err != nil:
			op.Status = api.OperationFailure
			op.Err = &api.Error{Code: errdefs.Code(err), Message: "interrupted by a daemon restart: " + err.Error()}
		case outcome == api.OutcomeRolledBack:
			op.Status = api.OperationFailure
			op.Err = &api.Error{Code: errdefs.Code(errdefs.ErrUnavailable), Message: "interrupted by a daemon restart and rolled back"}
		default:
			op.Status = api.OperationSuccess
			op.Progress = 100
		}
		o.log.Info("operation interrupted by a daemon restart", "operation", op.ID, "kind", op.Kind, "target", op.Target, "outcome", outcome, "err", err)
		if err := o.store.PutOperation(op); err != nil {
			return err
		}
	}
	return nil
}

// GetOperation returns an operation's current state.
func (m *Manager) GetOperation(ctx context.Context, id string) (*api.Operation, error) {
	op, err := m.ops.get(id)
	if err != nil {
		return nil, err
	}
	return op.snapshot(), nil
}

// ListOperations returns the operations the store keeps, oldest first.
func (m *Manager) ListOperations(ctx context.Context) ([]*api.Operation, error) {
	ops, err := m.store.ListOperations()
	if err != nil {
		return nil, err
	}
	for i, op := range ops {
		// Running ones: the live state is fresher than the last save.
		if live, err := m.ops.get(op.ID); err == nil {
			ops[i] = live.snapshot()
		}
	}
	return ops, nil
}

// CancelOperation asks a running operation to stop and undo its work.
func (m *Manager) CancelOperation(ctx context.Context, id string) (*api.Operation, error) {
	return m.ops.cancelOp(id)
}

// WaitOperation returns when the operation has ended, the timeout passed
// or ctx ended, with the operation's state then.
func (m *Manager) WaitOperation(ctx context.Context, id string, timeout time.Duration) (*api.Operation, error) {
	op, err := m.ops.get(id)
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-op.done:
	case <-t.C:
	case <-ctx.Done():
	}
	return op.snapshot(), nil
}

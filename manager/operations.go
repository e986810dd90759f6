package manager

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// maxFinishedOperations bounds how many finished operations are kept for
// clients that ask late.
const maxFinishedOperations = 500

// operations tracks slow work (template builds) that API calls start and
// return at once; clients poll or wait for it.
type operations struct {
	mu    sync.Mutex
	ops   map[string]*operation
	order []string
	// publish tells event subscribers of progress; nil publishes nothing.
	publish func(api.Event)
}

type operation struct {
	mu   sync.Mutex
	op   api.Operation
	done chan struct{}
}

func newOperations() *operations {
	return &operations{ops: map[string]*operation{}}
}

// start runs fn in the background and returns its operation at once.
func (o *operations) start(kind, target string, fn func(progress func(int, string)) error) *api.Operation {
	now := time.Now().UTC()
	op := &operation{
		op: api.Operation{
			ID: newUUID(), Kind: kind, Target: target,
			Status: api.OperationRunning, CreatedAt: now, UpdatedAt: now,
		},
		done: make(chan struct{}),
	}
	o.mu.Lock()
	o.ops[op.op.ID] = op
	o.order = append(o.order, op.op.ID)
	o.trimLocked()
	o.mu.Unlock()

	progress := func(pct int, msg string) {
		op.mu.Lock()
		defer op.mu.Unlock()
		if pct > op.op.Progress {
			op.op.Progress = min(pct, 100)
		}
		op.op.Message = msg
		op.op.UpdatedAt = time.Now().UTC()
		o.event(api.EventOperationProgress, &op.op)
	}
	go func() {
		err := fn(progress)
		op.mu.Lock()
		if err != nil {
			op.op.Status = api.OperationFailure
			op.op.Err = &api.Error{Code: errdefs.Code(err), Message: err.Error(), Field: errdefs.Field(err)}
		} else {
			op.op.Status = api.OperationSuccess
			op.op.Progress = 100
		}
		op.op.UpdatedAt = time.Now().UTC()
		o.event(api.EventOperationDone, &op.op)
		op.mu.Unlock()
		close(op.done)
	}()
	return op.snapshot()
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

func (o *operations) trimLocked() {
	for len(o.order) > maxFinishedOperations {
		id := o.order[0]
		op := o.ops[id]
		select {
		case <-op.done:
		default:
			return // oldest still running: keep all
		}
		delete(o.ops, id)
		o.order = o.order[1:]
	}
}

func (op *operation) snapshot() *api.Operation {
	op.mu.Lock()
	defer op.mu.Unlock()
	c := op.op
	return &c
}

func (o *operations) get(id string) (*operation, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	op := o.ops[id]
	if op == nil {
		return nil, fmt.Errorf("operation %q: %w", id, errdefs.ErrNotFound)
	}
	return op, nil
}

// GetOperation returns an operation's current state.
func (m *Manager) GetOperation(ctx context.Context, id string) (*api.Operation, error) {
	op, err := m.ops.get(id)
	if err != nil {
		return nil, err
	}
	return op.snapshot(), nil
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

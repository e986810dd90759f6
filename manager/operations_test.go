//go:build linux

package manager

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/store"
)

func testOps(t *testing.T) (*operations, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "zoned.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newOperations(st, slog.Default()), st
}

func waitDone(t *testing.T, o *operations, id string) *api.Operation {
	t.Helper()
	op, err := o.get(id)
	if err != nil {
		t.Fatal(err)
	}
	<-op.done
	op, err = o.get(id)
	if err != nil {
		t.Fatal(err)
	}
	return op.snapshot()
}

// Work started with the old start (no context) is persisted but cannot be
// cancelled; work with a context is, and ends "cancelled".
func TestOperationsCancel(t *testing.T) {
	o, st := testOps(t)
	release := make(chan struct{})
	plain := o.start("slow", "a", func(progress func(int, string)) error {
		progress(40, "half way")
		<-release
		return nil
	})
	if _, err := o.cancelOp(plain.ID); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("cancel of work without a context: %v, want conflict", err)
	}
	close(release)
	if got := waitDone(t, o, plain.ID); got.Status != api.OperationSuccess || got.Progress != 100 {
		t.Errorf("plain operation: %+v", got)
	}

	undone := make(chan bool, 1)
	op := o.startCtx("slow", "b", func(ctx context.Context, progress func(int, string)) error {
		progress(10, "working")
		<-ctx.Done()
		undone <- true
		return ctx.Err()
	})
	rec, err := st.GetOperation(op.ID)
	if err != nil || rec.Status != api.OperationRunning {
		t.Fatalf("running operation's record: %+v %v", rec, err)
	}
	if _, err := o.cancelOp(op.ID); err != nil {
		t.Fatal(err)
	}
	got := waitDone(t, o, op.ID)
	if got.Status != api.OperationCancelled || !<-undone {
		t.Errorf("cancelled operation: %+v", got)
	}
	if rec, err := st.GetOperation(op.ID); err != nil || rec.Status != api.OperationCancelled || rec.Progress != 10 {
		t.Errorf("cancelled operation's record: %+v %v", rec, err)
	}
}

// An operation left running by a dead daemon is handed to its kind's
// RestartFunc; a kind without one is marked failed, never left running.
func TestOperationsRecoverInterrupted(t *testing.T) {
	o, st := testOps(t)
	now := time.Now().UTC()
	for _, op := range []*api.Operation{
		{ID: "1", Kind: "rollme", Target: "x", Status: api.OperationRunning, CreatedAt: now},
		{ID: "2", Kind: "resumeme", Target: "y", Status: api.OperationRunning, CreatedAt: now},
		{ID: "3", Kind: "unknown", Target: "z", Status: api.OperationRunning, CreatedAt: now},
		{ID: "4", Kind: "rollme", Target: "w", Status: api.OperationSuccess, CreatedAt: now},
	} {
		if err := st.PutOperation(op); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	o.onRestart["rollme"] = func(ctx context.Context, op *api.Operation) (string, error) {
		seen = append(seen, op.Target)
		return api.OutcomeRolledBack, nil
	}
	o.onRestart["resumeme"] = func(ctx context.Context, op *api.Operation) (string, error) {
		return api.OutcomeResumed, nil
	}
	if err := o.recoverInterrupted(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		status  api.OperationStatus
		outcome string
	}{
		"1": {api.OperationFailure, api.OutcomeRolledBack},
		"2": {api.OperationSuccess, api.OutcomeResumed},
		"3": {api.OperationFailure, ""},
		"4": {api.OperationSuccess, ""},
	}
	for id, w := range want {
		rec, err := st.GetOperation(id)
		if err != nil || rec.Status != w.status || rec.Outcome != w.outcome {
			t.Errorf("operation %s: %+v %v, want %s %q", id, rec, err, w.status, w.outcome)
		}
	}
	if len(seen) != 1 || seen[0] != "x" {
		t.Errorf("restart handler saw %v, want only the running x", seen)
	}
}

package store

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

func TestOperationsPersistAndPrune(t *testing.T) {
	s := openTemp(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 6 {
		op := &api.Operation{ID: fmt.Sprintf("op%d", i), Kind: "k", Status: api.OperationSuccess, CreatedAt: base.Add(time.Duration(i) * time.Minute), UpdatedAt: base.Add(time.Duration(i) * time.Minute)}
		if i == 0 {
			op.Status = api.OperationRunning // oldest, but running: never pruned
		}
		if err := s.PutOperation(op); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetOperation("nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("missing operation: %v, want not found", err)
	}
	op, err := s.GetOperation("op3")
	if err != nil || op.Kind != "k" || !op.CreatedAt.Equal(base.Add(3*time.Minute)) {
		t.Fatalf("get op3: %+v %v", op, err)
	}
	// Keep the 3 newest finished, and none that ended before op2.
	n, err := s.PruneOperations(3, base.Add(2*time.Minute+time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ops, err := s.ListOperations()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range ops {
		ids = append(ids, o.ID)
	}
	if n != 2 || fmt.Sprint(ids) != "[op0 op3 op4 op5]" {
		t.Fatalf("after prune (%d deleted): %v, want op0 op3 op4 op5", n, ids)
	}
}

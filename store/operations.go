package store

import (
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

var bucketOperations = []byte("operations")

// PutOperation writes an operation's record, new or changed.
func (s *Store) PutOperation(op *api.Operation) error {
	if op.ID == "" {
		return fmt.Errorf("put operation: no id: %w", errdefs.ErrInvalid)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return operationKind.put(tx, op.ID, op)
	})
	if err != nil {
		return fmt.Errorf("put operation %s: %w", op.ID, err)
	}
	return nil
}

// GetOperation returns an operation's record, or an error wrapping
// ErrNotFound.
func (s *Store) GetOperation(id string) (*api.Operation, error) {
	var op *api.Operation
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		op, err = operationKind.get(tx, id)
		if err == nil && op == nil {
			err = fmt.Errorf("operation %q: %w", id, errdefs.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return op, nil
}

// ListOperations returns every operation's record, oldest first.
func (s *Store) ListOperations() ([]*api.Operation, error) {
	ops, err := operationKind.list(s)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].CreatedAt.Before(ops[j].CreatedAt) })
	return ops, nil
}

// PruneOperations deletes finished operations that ended before
// olderThan, and the oldest finished ones beyond keep, so the bucket stays
// bounded however many operations a host runs. Running ones are never
// pruned. It returns how many it deleted.
func (s *Store) PruneOperations(keep int, olderThan time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketOperations)
		type fin struct {
			id  []byte
			end time.Time
		}
		var done []fin
		err := operationKind.each(tx, func(k []byte, op *api.Operation) error {
			if op.Status != api.OperationRunning {
				done = append(done, fin{append([]byte(nil), k...), op.UpdatedAt})
			}
			return nil
		})
		if err != nil {
			return err
		}
		sort.Slice(done, func(i, j int) bool { return done[i].end.After(done[j].end) })
		for i, f := range done {
			if i >= keep || f.end.Before(olderThan) {
				if err := b.Delete(f.id); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune operations: %w", err)
	}
	return n, nil
}

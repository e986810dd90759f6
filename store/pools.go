package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
)

// Buckets of storage objects (the schema tree in store.go gains):
//
//	├── pools
//	│   └── <pool name> : PoolRecord as JSON (the default pool is not stored)
//	└── snapshots
//	    └── <zone name>@<snapshot name> : SnapshotRecord as JSON
var (
	bucketPools     = []byte("pools")
	bucketSnapshots = []byte("snapshots")
)

// PoolRecord is a storage pool: a directory holding zone layers and the
// backend that makes them.
type PoolRecord struct {
	Name      string    `json:"name"`
	Path      string    `json:"path"`
	Backend   string    `json:"backend"`
	CreatedAt time.Time `json:"created_at"`
}

// CreatePool stores a new pool record.
func (s *Store) CreatePool(rec *PoolRecord) error {
	if err := validate.Name("pool", rec.Name); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketPools)
		if b.Get([]byte(rec.Name)) != nil {
			return fmt.Errorf("pool %q: %w", rec.Name, errdefs.ErrAlreadyExists)
		}
		return put(b, rec.Name, rec)
	})
	if err != nil {
		return fmt.Errorf("create pool record: %w", err)
	}
	return nil
}

// ListPools returns every stored pool, sorted by name.
func (s *Store) ListPools() ([]*PoolRecord, error) {
	return list[PoolRecord](s, bucketPools)
}

// DeletePool removes a pool's record.
func (s *Store) DeletePool(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketPools)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("delete pool %q: %w", name, errdefs.ErrNotFound)
		}
		return b.Delete([]byte(name))
	})
}

// ZonesInPool names the zones whose layer is in pool name; "" and
// "default" both mean the default pool.
func (s *Store) ZonesInPool(name string) ([]string, error) {
	isDefault := name == "" || name == "default"
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketZones).ForEach(func(k, v []byte) error {
			var rec struct {
				Pool string `json:"pool"`
			}
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode zone %q: %w", k, err)
			}
			if rec.Pool == name || isDefault && (rec.Pool == "" || rec.Pool == "default") {
				out = append(out, string(k))
			}
			return nil
		})
	})
	return out, err
}

package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
)

// Buckets of storage objects (in doc.go's tree).
var (
	bucketPools     = []byte("pools")
	bucketSnapshots = []byte("snapshots")
)

// PoolRecord is a storage pool: a directory holding zone layers and the
// backend that makes them.
type PoolRecord struct {
	Name      string
	Path      string
	Backend   string
	CreatedAt time.Time
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
		return poolKind.put(tx, rec.Name, rec)
	})
	if err != nil {
		return fmt.Errorf("create pool record: %w", err)
	}
	return nil
}

// ListPools returns every stored pool, sorted by name.
func (s *Store) ListPools() ([]*PoolRecord, error) {
	return poolKind.list(s)
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
			rec, err := decodeZoneRefs(v)
			if err != nil {
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

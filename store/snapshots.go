package store

import (
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zoned-project/zoned/errdefs"
)

// SnapshotRecord is a snapshot of a zone's own layer.
type SnapshotRecord struct {
	Zone      string
	Name      string
	CreatedAt time.Time
	// Running says the zone ran (frozen for the moment) when it was taken.
	Running   bool
	SizeBytes int64
}

func snapshotKey(zone, name string) string { return zone + "@" + name }

// CreateSnapshot stores a new snapshot record.
func (s *Store) CreateSnapshot(rec *SnapshotRecord) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketSnapshots)
		k := snapshotKey(rec.Zone, rec.Name)
		if b.Get([]byte(k)) != nil {
			return fmt.Errorf("snapshot %s: %w", k, errdefs.ErrAlreadyExists)
		}
		return snapshotKind.put(tx, k, rec)
	})
	if err != nil {
		return fmt.Errorf("create snapshot record: %w", err)
	}
	return nil
}

// GetSnapshot returns a snapshot's record, or an error wrapping
// ErrNotFound.
func (s *Store) GetSnapshot(zone, name string) (*SnapshotRecord, error) {
	var rec *SnapshotRecord
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		rec, err = snapshotKind.get(tx, snapshotKey(zone, name))
		if err == nil && rec == nil {
			err = fmt.Errorf("snapshot %s@%s: %w", zone, name, errdefs.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// ListSnapshots returns the zone's snapshots, sorted by name; zone ""
// lists every zone's.
func (s *Store) ListSnapshots(zone string) ([]*SnapshotRecord, error) {
	all, err := snapshotKind.list(s)
	if err != nil || zone == "" {
		return all, err
	}
	var out []*SnapshotRecord
	for _, r := range all {
		if r.Zone == zone {
			out = append(out, r)
		}
	}
	return out, nil
}

// DeleteSnapshot removes a snapshot's record.
func (s *Store) DeleteSnapshot(zone, name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketSnapshots)
		k := snapshotKey(zone, name)
		if b.Get([]byte(k)) == nil {
			return fmt.Errorf("delete snapshot %s: %w", k, errdefs.ErrNotFound)
		}
		return b.Delete([]byte(k))
	})
}

// DeleteZoneSnapshots removes the records of every snapshot of zone.
func (s *Store) DeleteZoneSnapshots(zone string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketSnapshots)
		var keys [][]byte
		prefix := []byte(zone + "@")
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, _ = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

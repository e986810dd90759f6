package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// keyInstance holds the daemon's instance ID in the root bucket.
var keyInstance = []byte("instance")

// InstanceID returns the instance ID of the daemon that owns this store,
// made by mk and kept on first use: the daemon names its host objects
// (nftables tables, link aliases) after it, so that two daemons on one
// host, each with its own store, never take or sweep each other's.
// created tells whether this call made it.
func (s *Store) InstanceID(mk func() string) (id string, created bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketRoot)
		if v := root.Get(keyInstance); v != nil {
			id = string(v)
			return nil
		}
		id, created = mk(), true
		return root.Put(keyInstance, []byte(id))
	})
	if err != nil {
		return "", false, fmt.Errorf("instance ID: %w", err)
	}
	return id, created, nil
}

// Package store keeps all of zoned's persistent state in one bbolt file, so
// that a zone's record and its state change in a single fsynced
// transaction and a daemon restarted after a crash finds exactly what was
// committed.
//
// The file's schema, one bucket per kind of object under a versioned root:
//
//	v1                              root bucket; the "1" is the layout generation
//	├── version : uint64 big-endian schema version (migrations bump it)
//	├── instance : the daemon's instance ID, 8 hex digits (store/instance.go)
//	├── zones
//	│   └── <zone name> : ZoneRecord as JSON
//	├── templates
//	│   └── <template name> : TemplateRecord as JSON
//	└── operations
//	    └── <operation id> : api.Operation as JSON (store/operations.go)
//
// Values are JSON so that a person with bbolt's CLI can read them and a new
// field needs no migration; migrations are for changes of layout or meaning.
// Bytes bbolt hands out are only valid inside their transaction, so every
// value is decoded (copied) before the transaction ends.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/zoned-project/zoned/errdefs"
)

var (
	bucketRoot      = []byte("v1")
	keyVersion      = []byte("version")
	bucketZones     = []byte("zones")
	bucketTemplates = []byte("templates")
)

// lockTimeout is how long Open waits for the file lock: long enough to ride
// out a previous daemon that is just exiting, short enough that a second
// daemon started by mistake fails at once with a clear message.
const lockTimeout = time.Second

// Store is zoned's database. Its methods are safe for concurrent use:
// bbolt serialises write transactions and lets reads run beside them.
type Store struct {
	db   *bolt.DB
	path string
	// summaries serves ListZoneSummaries (zonesummary.go).
	summaries summaryCache
}

// Open opens (creating if needed) the store at path and brings its schema
// up to date. A store held by another process fails with an error wrapping
// errdefs.ErrUnavailable.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create directory of store %s: %w", path, err)
	}
	// NoSync stays false: every committed transaction is on disk before the
	// call returns, which is what lets the manager act on it (start a zone,
	// delete a directory) without fear of losing the record in a crash.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("store %s is locked by another zoned: %w", path, errdefs.ErrUnavailable)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return s, nil
}

// Close releases the file and its lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// migration moves the schema from version-1 to version. Migrations run in
// order inside one write transaction together with the version bump, so a
// crash mid-way leaves the old schema intact.
type migration struct {
	version int
	name    string
	migrate func(tx *bolt.Tx) error
}

// baseVersion is the schema a new store is created with.
const baseVersion = 1

// migrations lists the schema changes since baseVersion, oldest first.
// None yet; a variable so tests can exercise the mechanism.
var migrations = []migration{}

// schemaVersion is the version this build writes.
func schemaVersion() int {
	if n := len(migrations); n > 0 {
		return migrations[n-1].version
	}
	return baseVersion
}

func (s *Store) migrate() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bucketRoot)
		if err != nil {
			return fmt.Errorf("create root bucket: %w", err)
		}
		want := schemaVersion()
		have := baseVersion
		fresh := root.Get(keyVersion) == nil
		if !fresh {
			have = int(binary.BigEndian.Uint64(root.Get(keyVersion)))
		}
		if have > want {
			return fmt.Errorf("schema version %d is newer than this zoned understands (%d); refusing to touch it", have, want)
		}
		for _, name := range [][]byte{bucketZones, bucketTemplates, bucketNetworks, bucketPortForwards, bucketOperations, bucketPools, bucketSnapshots} {
			if _, err := root.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if fresh {
			// A new file already has the newest layout.
			have = want
		}
		for _, m := range migrations {
			if m.version <= have {
				continue
			}
			if err := m.migrate(tx); err != nil {
				return fmt.Errorf("migrate schema to version %d (%s): %w", m.version, m.name, err)
			}
		}
		return root.Put(keyVersion, binary.BigEndian.AppendUint64(nil, uint64(want)))
	})
}

// bucket returns a kind's bucket; migrate created them all.
func bucket(tx *bolt.Tx, name []byte) *bolt.Bucket {
	return tx.Bucket(bucketRoot).Bucket(name)
}

// get decodes key's value in kind's bucket into v; false when absent.
func get(b *bolt.Bucket, key string, v any) (bool, error) {
	data := b.Get([]byte(key))
	if data == nil {
		return false, nil
	}
	// Unmarshal copies everything out of data, which dies with the tx.
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("decode %q: %w", key, err)
	}
	return true, nil
}

func put(b *bolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", key, err)
	}
	return b.Put([]byte(key), data)
}

// list decodes every value in a bucket, in key (name) order.
func list[T any](s *Store, name []byte) ([]*T, error) {
	var out []*T
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, name).ForEach(func(k, v []byte) error {
			rec := new(T)
			if err := json.Unmarshal(v, rec); err != nil {
				return fmt.Errorf("decode %s %q: %w", name, k, err)
			}
			out = append(out, rec)
			return nil
		})
	})
	return out, err
}

package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
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
	log       *slog.Logger
	// backups is the periodic backup started by StartBackups (backup.go).
	backups *backupLoop
	// onFresh is Options.Fresh, asked by migrate when the file has no
	// schema yet.
	onFresh func() error
	// reservedIDs is Options.ReservedIDs.
	reservedIDs func() [][2]uint64
}

// Open opens (creating if needed) the store at path and brings its schema
// up to date. A store held by another process fails with an error wrapping
// errdefs.ErrUnavailable. It is OpenWith without options.
func Open(path string) (*Store, error) {
	return OpenWith(path, Options{})
}

// OpenWith opens the store at path like Open, defensively (see open.go):
// a damaged file is an error wrapping ErrDamaged, not a panic; a store
// newer than this build wraps ErrNewerSchema; records that do not decode
// are moved to the quarantine bucket.
func OpenWith(path string, o Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create directory of store %s: %w", path, err)
	}
	if err := o.checkFresh(path); err != nil {
		return nil, err
	}
	// NoSync stays false: every committed transaction is on disk before the
	// call returns, which is what lets the manager act on it (start a zone,
	// delete a directory) without fear of losing the record in a crash.
	db, err := openBolt(path, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("store %s is locked by another zoned: %w", path, errdefs.ErrUnavailable)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, path: path, log: o.logger(), reservedIDs: o.ReservedIDs}
	if err := s.prepare(o); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return s, nil
}

// Close releases the file and its lock.
func (s *Store) Close() error {
	s.stopBackups()
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
		if fresh && s.onFresh != nil {
			// Nothing is committed: a refusal leaves the file as it was.
			if err := s.onFresh(); err != nil {
				return err
			}
		}
		if !fresh {
			v := root.Get(keyVersion)
			if len(v) != 8 {
				return fmt.Errorf("schema version is %d bytes, not 8: %w", len(v), ErrDamaged)
			}
			have = int(binary.BigEndian.Uint64(v))
		}
		if have > want {
			return fmt.Errorf("schema version %d is newer than this zoned understands (%d); refusing to touch it: %w", have, want, ErrNewerSchema)
		}
		for _, name := range append(dataBuckets(), bucketQuarantine) {
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

package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	bolt "go.etcd.io/bbolt"
)

var (
	// ErrDamaged: the file is not a readable store (truncated, overwritten,
	// failed bbolt's consistency check). The daemon refuses to start on it
	// rather than guess; `zoned recover` restores or rebuilds it.
	ErrDamaged = errors.New("store file is damaged")
	// ErrNewerSchema: the file was written by a newer zoned whose layout
	// this build does not know.
	ErrNewerSchema = errors.New("store schema is newer than this zoned")
)

// bucketQuarantine holds records that did not decode when the store was
// opened, keyed "<bucket>/<key>", so that one bad record costs that record
// only (and stays there for a person to look at) instead of the daemon.
var bucketQuarantine = []byte("quarantine")

// Options tune OpenWith.
type Options struct {
	// Fresh is asked when the store holds no schema yet: the file is
	// missing, empty (0 bytes) or has no root bucket. A non-nil error
	// refuses the open and leaves the file untouched; the manager uses it
	// to refuse an empty store beside existing zones.
	Fresh func() error
	// Logger reports quarantined records; nil is slog.Default().
	Logger *slog.Logger
	// ReservedIDs, when set, lists host ID ranges [lo, hi) that
	// CreateZoneWithIDMap must not give out although no record holds
	// them: those of zones whose record was lost or quarantined, which
	// still own their files and may still run.
	ReservedIDs func() [][2]uint64
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// checkFresh asks o.Fresh before bbolt makes a missing or 0-byte file into
// a new store, so a refused start does not even write the file.
func (o Options) checkFresh(path string) error {
	if o.Fresh == nil {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("store %s: %w", path, err)
	case fi.Size() != 0:
		return nil
	}
	if err := o.Fresh(); err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	return nil
}

// panicErr turns a panic of bbolt (its assertions on a damaged file, an
// index beyond a truncated page) into an error wrapping ErrDamaged.
func panicErr(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%v: %w", r, ErrDamaged)
	}
}

// openBolt is bolt.Open that reports a damaged file as ErrDamaged.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	if err := precheck(path); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			// bbolt panicked half way through Open with the file locked
			// and the DB never handed out: let go of the lock, so
			// that recovery (or a test) can open the path again.
			unlockLeaked(path)
			err = fmt.Errorf("%v: %w", r, ErrDamaged)
		}
	}()
	db, err = bolt.Open(path, 0o600, o)
	if err != nil && !errors.Is(err, bolt.ErrTimeout) {
		// bbolt says "invalid database", "file size too small", a
		// checksum or version error: all mean the file is not a store.
		err = fmt.Errorf("%w: %w", err, ErrDamaged)
	}
	return db, err
}

// prepare checks the file, migrates its schema and quarantines records
// that do not decode. A panic of bbolt on the way is an ErrDamaged error.
func (s *Store) prepare(o Options) (err error) {
	defer panicErr(&err)
	// The check reads every page once; zoned's store is small (records of
	// zones, templates and recent operations), so it costs milliseconds
	// and it is what finds a torn or truncated file before a reader meets
	// it later and panics in the middle of serving.
	if err := s.Check(); err != nil {
		return err
	}
	s.onFresh = o.Fresh
	defer func() { s.onFresh = nil }()
	if err := s.migrate(); err != nil {
		return err
	}
	return s.quarantine()
}

// Check runs bbolt's consistency check over the whole file.
func (s *Store) Check() (err error) {
	defer panicErr(&err)
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []string
		for e := range tx.Check() {
			errs = append(errs, e.Error())
		}
		if len(errs) > 0 {
			if len(errs) > 3 {
				errs = append(errs[:3], fmt.Sprintf("and %d more", len(errs)-3))
			}
			return fmt.Errorf("consistency check: %s: %w", strings.Join(errs, "; "), ErrDamaged)
		}
		return nil
	})
}

// recordDecoders names, for each bucket of records, a check that a value
// decodes as that bucket's record.
var recordDecoders = map[string]func([]byte) error{
	string(bucketZones):        zoneKind.check,
	string(bucketTemplates):    templateKind.check,
	string(bucketNetworks):     networkKind.check,
	string(bucketPortForwards): portForwardKind.check,
	string(bucketOperations):   operationKind.check,
	string(bucketPools):        poolKind.check,
	string(bucketSnapshots):    snapshotKind.check,
	string(bucketClients):      clientKind.check,
	string(bucketTokens):       tokenKind.check,
}

// dataBuckets are the buckets of records under the root.
func dataBuckets() [][]byte {
	return [][]byte{bucketZones, bucketTemplates, bucketNetworks, bucketPortForwards, bucketOperations, bucketPools, bucketSnapshots, bucketClients, bucketTokens}
}

// quarantine moves every record that does not decode into the quarantine
// bucket, in one transaction, and logs each: the daemon runs on without
// it instead of failing every list that meets it.
func (s *Store) quarantine() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		q := tx.Bucket(bucketRoot).Bucket(bucketQuarantine)
		for _, name := range dataBuckets() {
			b := bucket(tx, name)
			decode := recordDecoders[string(name)]
			type bad struct{ k, v []byte }
			var bads []bad
			err := b.ForEach(func(k, v []byte) error {
				if v == nil {
					return nil // a nested bucket: not ours to judge
				}
				if err := decode(v); err != nil {
					s.log.Error("store record does not decode; moved to quarantine", "store", s.path, "bucket", string(name), "key", string(k), "err", err)
					bads = append(bads, bad{append([]byte(nil), k...), append([]byte(nil), v...)})
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, r := range bads {
				if err := q.Put([]byte(string(name)+"/"+string(r.k)), r.v); err != nil {
					return fmt.Errorf("quarantine %s %q: %w", name, r.k, err)
				}
				if err := b.Delete(r.k); err != nil {
					return fmt.Errorf("quarantine %s %q: %w", name, r.k, err)
				}
			}
		}
		return nil
	})
}

// Quarantined lists the keys ("<bucket>/<key>") of records quarantined so
// far.
func (s *Store) Quarantined() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRoot).Bucket(bucketQuarantine).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// unlockLeaked drops the flock of every descriptor of this process open
// on path's file. It unlocks, never closes: the *os.File bbolt leaked
// still owns its descriptor number.
func unlockLeaked(path string) {
	var want unix.Stat_t
	if err := unix.Stat(path, &want); err != nil {
		return
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino {
			_ = unix.Flock(fd, unix.LOCK_UN)
		}
	}
}

// boltMeta is the part of a bbolt meta page (two at the file's start, the
// valid one with the higher transaction wins) that says how big the file
// must be.
type boltMeta struct {
	pageSize uint32
	freelist uint64
	pgid     uint64 // high-water mark: pages 0..pgid-1 are in the file
	txid     uint64
}

// bbolt's meta page, after a 16-byte page header: magic, version,
// pageSize, flags (4 bytes each), root bucket (16), freelist, pgid, txid,
// checksum (8 each); the checksum is FNV-64a of the bytes before it.
const (
	boltPageHeader = 16
	boltMetaSize   = 4*4 + 16 + 4*8
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
)

func parseBoltMeta(b []byte) (boltMeta, bool) {
	if len(b) < boltPageHeader+boltMetaSize {
		return boltMeta{}, false
	}
	m := b[boltPageHeader : boltPageHeader+boltMetaSize]
	ne := binary.NativeEndian
	if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:boltMetaSize-8])
	if h.Sum64() != ne.Uint64(m[boltMetaSize-8:]) {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: ne.Uint32(m[8:]), freelist: ne.Uint64(m[32:]), pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, true
}

// precheck refuses a file whose meta pages are unreadable or that is
// shorter than its meta says: a truncated store. bbolt would otherwise
// panic while opening it (reading the freelist past the end) with its
// file lock still held, which no recover can release.
func precheck(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return nil // bbolt makes a new store of it
	}
	buf := make([]byte, 64<<10)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	buf = buf[:n]
	best, ok := parseBoltMeta(buf)
	if ok && int(best.pageSize) < len(buf) {
		if m1, ok1 := parseBoltMeta(buf[best.pageSize:]); ok1 && m1.txid > best.txid {
			best = m1
		}
	}
	if !ok {
		return fmt.Errorf("no valid bbolt meta page at the start of the file (%d bytes): %w", fi.Size(), ErrDamaged)
	}
	if want := int64(best.pgid) * int64(best.pageSize); fi.Size() < want || best.freelist >= best.pgid && best.freelist != ^uint64(0) {
		return fmt.Errorf("file is %d bytes but its meta page says %d (pages of %d up to page %d): truncated: %w", fi.Size(), want, best.pageSize, best.pgid, ErrDamaged)
	}
	return nil
}

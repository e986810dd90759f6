package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// backupPrefix starts the name of every backup file: zoned.db.<UTC time>,
// so that names sort by age.
const backupPrefix = "zoned.db."

// backupTimeFormat is sortable and has no ':' (the name is a plain file).
const backupTimeFormat = "20060102T150405.000000000Z"

// Backup writes a consistent copy of the store into dir as
// zoned.db.<UTC time> and deletes the oldest copies beyond keep. The copy
// is a read transaction's view (bbolt's Tx.WriteTo), so writers go on
// meanwhile; it is written to a temporary file, fsynced and renamed, so a
// crash leaves either the whole copy or none.
func (s *Store) Backup(dir string, keep int) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("back up store %s: %w", s.path, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-zoned.db-*")
	if err != nil {
		return "", fmt.Errorf("back up store %s: %w", s.path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	err = s.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(f)
		return err
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("back up store %s: %w", s.path, err)
	}
	dst := filepath.Join(dir, backupPrefix+time.Now().UTC().Format(backupTimeFormat))
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("back up store %s: %w", s.path, err)
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("back up store %s: %w", s.path, err)
	}
	all, err := Backups(dir)
	if err != nil {
		return dst, err
	}
	for i := keep; i < len(all); i++ {
		if err := os.Remove(all[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return dst, fmt.Errorf("rotate backups in %s: %w", dir, err)
		}
	}
	return dst, nil
}

// Backups lists the backup files in dir, newest first; none is not an
// error.
func Backups(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list backups in %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), backupPrefix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// backupLoop is the goroutine StartBackups runs.
type backupLoop struct {
	stop chan struct{}
	done sync.WaitGroup
}

// StartBackups backs the store up into dir now and then every interval,
// keeping keep copies, until Close. A failed backup is logged, not fatal:
// the store itself is fine. A copy is skipped when nothing was committed
// since the last one.
func (s *Store) StartBackups(dir string, interval time.Duration, keep int) {
	if s.backups != nil {
		return
	}
	l := &backupLoop{stop: make(chan struct{})}
	s.backups = l
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		last := -1
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			var txid int
			_ = s.db.View(func(tx *bolt.Tx) error { txid = tx.ID(); return nil })
			if txid != last {
				if p, err := s.Backup(dir, keep); err != nil {
					s.log.Warn("back up store", "store", s.path, "err", err)
				} else {
					s.log.Debug("backed up store", "store", s.path, "backup", p)
					last = txid
				}
			}
			select {
			case <-l.stop:
				return
			case <-t.C:
			}
		}
	}()
}

func (s *Store) stopBackups() {
	if s.backups == nil {
		return
	}
	close(s.backups.stop)
	s.backups.done.Wait()
	s.backups = nil
}

// Verify opens the store file at path read-only and checks it as OpenWith
// would, without changing it: bbolt's consistency check, a known schema
// version, and every record decoding. It is how recovery picks a backup.
func Verify(path string) (err error) {
	db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	defer db.Close()
	s := &Store{db: db, path: path}
	if err := s.Check(); err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	defer panicErr(&err)
	return db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketRoot)
		if root == nil {
			return fmt.Errorf("store %s has no schema: %w", path, ErrDamaged)
		}
		v := root.Get(keyVersion)
		if len(v) != 8 {
			return fmt.Errorf("store %s has no schema version: %w", path, ErrDamaged)
		}
		if have := int(binary.BigEndian.Uint64(v)); have > schemaVersion() {
			return fmt.Errorf("store %s: schema version %d: %w", path, have, ErrNewerSchema)
		}
		for _, name := range dataBuckets() {
			b := root.Bucket(name)
			if b == nil {
				continue
			}
			decode := recordDecoders[string(name)]
			if err := b.ForEach(func(k, v []byte) error {
				if v != nil {
					if err := decode(v); err != nil {
						return fmt.Errorf("store %s: %s %q does not decode: %v: %w", path, name, k, err, ErrDamaged)
					}
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

// Install copies the store file src over dst (the daemon's store, which
// must not be open): to a temporary file beside dst, fsynced, then
// renamed, so dst is at every moment either the old file or the whole
// new one. The old dst, if any, is kept as dst.damaged-<UTC time>, whose
// path is returned.
func Install(src, dst string) (kept string, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("install store %s: %w", src, err)
	}
	defer in.Close()
	f, err := os.CreateTemp(filepath.Dir(dst), ".tmp-zoned.db-*")
	if err != nil {
		return "", fmt.Errorf("install store %s: %w", src, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = io.Copy(f, in)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("install store %s: %w", src, err)
	}
	if _, err := os.Lstat(dst); err == nil {
		kept = dst + ".damaged-" + time.Now().UTC().Format(backupTimeFormat)
		if err := os.Link(dst, kept); err != nil {
			return "", fmt.Errorf("keep the old store %s: %w", dst, err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return kept, fmt.Errorf("install store %s: %w", src, err)
	}
	return kept, syncDir(filepath.Dir(dst))
}

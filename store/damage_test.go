package store

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/zoned-project/zoned/errdefs"
)

// filledStore makes a closed store at a new path holding n zones, big
// enough to span many pages.
func filledStore(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zoned.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		rec := zone("z" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)))
		rec.Hostname = strings.Repeat("h", 500)
		if err := s.CreateZone(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTruncatedStoreIsDamagedNotPanic(t *testing.T) {
	path := filledStore(t, 200)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{fi.Size() / 2, fi.Size() - 4096, 4096 + 100, 100} {
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path)
		if err == nil {
			s.Close()
			t.Fatalf("store truncated to %d bytes opened", size)
		}
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) {
			t.Errorf("truncated to %d bytes: error %q: want ErrDamaged naming %s", size, err, path)
		}
		if err := Verify(path); !errors.Is(err, ErrDamaged) {
			t.Errorf("Verify of store truncated to %d bytes: %v, want ErrDamaged", size, err)
		}
	}
}

func TestZeroedPagesAreDamagedNotPanic(t *testing.T) {
	path := filledStore(t, 200)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// A torn write: the second half of the file reads as zeros, the size
	// unchanged. bbolt panics on it inside Open, holding its lock.
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second open finds the lock released
		s, err := Open(path)
		if err == nil {
			s.Close()
			t.Fatal("store with zeroed pages opened")
		}
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q: want ErrDamaged naming %s", err, path)
		}
	}
	if err := Verify(path); !errors.Is(err, ErrDamaged) {
		t.Errorf("Verify: %v, want ErrDamaged", err)
	}
}

func TestBadRecordIsQuarantined(t *testing.T) {
	path := filledStore(t, 3)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketRoot)
		if err := root.Bucket(bucketOperations).Put([]byte("op-bad"), []byte("{not json")); err != nil {
			return err
		}
		return root.Bucket(bucketZones).Put([]byte("broken"), []byte(`{"name": 7}`))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(path); !errors.Is(err, ErrDamaged) {
		t.Errorf("Verify of a store with a bad record: %v, want ErrDamaged", err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatalf("open with a bad record: %v", err)
	}
	defer s.Close()
	zones, err := s.ListZones()
	if err != nil {
		t.Fatalf("list zones after quarantine: %v", err)
	}
	if len(zones) != 3 {
		t.Errorf("%d zones after quarantine, want the 3 good ones", len(zones))
	}
	if _, err := s.ListOperations(); err != nil {
		t.Errorf("list operations after quarantine: %v", err)
	}
	q, err := s.Quarantined()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(q, ",") != "operations/op-bad,zones/broken" {
		t.Errorf("quarantined %v, want operations/op-bad and zones/broken", q)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filledStore(t, 1)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRoot).Put(keyVersion, binary.BigEndian.AppendUint64(nil, uint64(schemaVersion()+1)))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("open of a newer schema: %v, want ErrNewerSchema", err)
	}
	if err := Verify(path); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("Verify of a newer schema: %v, want ErrNewerSchema", err)
	}
}

func TestFreshHookRefusesEmptyStore(t *testing.T) {
	refuse := Options{Fresh: func() error { return errdefs.ErrConflict }}
	for name, setup := range map[string]func(path string){
		"missing":    func(string) {},
		"zero bytes": func(p string) { os.WriteFile(p, nil, 0o600) },
		"no schema": func(p string) {
			db, err := bolt.Open(p, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "zoned.db")
			setup(path)
			before, statErr := os.ReadFile(path)
			if _, err := OpenWith(path, refuse); !errors.Is(err, errdefs.ErrConflict) {
				t.Fatalf("open: %v, want the hook's refusal", err)
			}
			after, err := os.ReadFile(path)
			if (statErr == nil) != (err == nil) || string(before) != string(after) {
				t.Errorf("a refused open changed the file")
			}
			// Without a refusal it is a new store.
			s, err := OpenWith(path, Options{Fresh: func() error { return nil }})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			// Now it has a schema: the hook is not asked again.
			s, err = OpenWith(path, refuse)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			s.Close()
		})
	}
}

func TestBackupRotateVerifyInstall(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "zoned.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	backups := filepath.Join(dir, "backup")
	for i := 0; i < 5; i++ {
		if err := s.CreateZone(zone("z" + string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Backup(backups, 3); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	all, err := Backups(backups)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("%d backups kept, want 3: %v", len(all), all)
	}
	if entries, _ := os.ReadDir(backups); len(entries) != 3 {
		t.Errorf("backup dir holds %d files, want the 3 backups only", len(entries))
	}
	for _, b := range all {
		if err := Verify(b); err != nil {
			t.Errorf("backup: %v", err)
		}
	}
	// The store is damaged; the newest backup replaces it and the damaged
	// file is kept aside.
	if err := os.Truncate(path, 4096+10); err != nil {
		t.Fatal(err)
	}
	kept, err := Install(all[0], path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(kept); err != nil || fi.Size() != 4096+10 {
		t.Errorf("damaged store not kept as %s: %v", kept, err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	zones, err := s.ListZones()
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != 5 {
		t.Errorf("restored store has %d zones, want 5", len(zones))
	}
}

func TestStartBackupsWritesOneAtStart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "zoned.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.StartBackups(filepath.Join(dir, "backup"), 1<<40, 3)
	// Close waits for the loop, which backs up before its first wait.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	all, err := Backups(filepath.Join(dir, "backup"))
	if err != nil || len(all) != 1 {
		t.Fatalf("backups after start: %v, %v; want one", all, err)
	}
}

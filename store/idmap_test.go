package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
)

func TestCreateZoneWithIDMapAllocatesDisjointRangesAndReusesFreed(t *testing.T) {
	s := openTemp(t)
	const base, size = 1 << 20, 65536
	for i, name := range []string{"a", "b", "c"} {
		rec := zone(name)
		if err := s.CreateZoneWithIDMap(rec, base, size); err != nil {
			t.Fatal(err)
		}
		if want := uint32(base + i*size); rec.IDMapBase != want || rec.IDMapSize != size {
			t.Errorf("zone %s got range %d+%d, want %d+%d", name, rec.IDMapBase, rec.IDMapSize, want, size)
		}
		got, err := s.GetZone(name)
		if err != nil || got.IDMapBase != rec.IDMapBase || got.IDMapSize != size {
			t.Errorf("stored record of %s: %+v, %v", name, got, err)
		}
	}
	// A privileged zone holds no range and does not disturb allocation.
	if err := s.CreateZone(zone("priv")); err != nil {
		t.Fatal(err)
	}
	// Deleting b frees its range; the next zone gets the lowest free one.
	if err := s.DeleteZone("b"); err != nil {
		t.Fatal(err)
	}
	d := zone("d")
	if err := s.CreateZoneWithIDMap(d, base, size); err != nil {
		t.Fatal(err)
	}
	if d.IDMapBase != base+size {
		t.Errorf("zone d got %d, want b's freed range %d", d.IDMapBase, base+size)
	}
	// A name that exists is refused before any range is taken.
	if err := s.CreateZoneWithIDMap(zone("a"), base, size); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("duplicate name: %v, want already exists", err)
	}
}

func TestCreateZoneWithIDMapRunsOutCleanly(t *testing.T) {
	s := openTemp(t)
	// Room for exactly two ranges below 2^32-1.
	const size = 1 << 30
	for _, name := range []string{"a", "b", "c"} {
		if err := s.CreateZoneWithIDMap(zone(name), 1<<30, size); err != nil {
			if name != "c" || !errors.Is(err, errdefs.ErrUnavailable) {
				t.Fatalf("zone %s: %v", name, err)
			}
			if _, err := s.GetZone("c"); !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("failed create left a record: %v", err)
			}
			return
		}
	}
	t.Fatal("a third range of 2^30 IDs above 2^30 was handed out")
}

func TestCreateZoneWithIDMapConcurrent(t *testing.T) {
	s := openTemp(t)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.CreateZoneWithIDMap(zone(fmt.Sprintf("z%d", i)), 100000, 1000)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.ListZones()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint32]string{}
	for _, r := range recs {
		if other, dup := seen[r.IDMapBase]; dup {
			t.Errorf("zones %s and %s share range %d", r.Name, other, r.IDMapBase)
		}
		seen[r.IDMapBase] = r.Name
		if r.IDMapBase < 100000 || (r.IDMapBase-100000)%1000 != 0 || r.IDMapBase >= 100000+n*1000 {
			t.Errorf("zone %s got range %d, not among the lowest %d", r.Name, r.IDMapBase, n)
		}
	}
}

func TestCreateZoneWithIDMapSkipsReservedRanges(t *testing.T) {
	const base, size = 1 << 20, 65536
	// The first range belongs to a zone whose record is gone (its
	// directory still says so): it is not handed out again.
	reserved := [][2]uint64{{base, base + size}}
	s, err := OpenWith(filepath.Join(t.TempDir(), "zoned.db"), Options{ReservedIDs: func() [][2]uint64 { return reserved }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := zone("a")
	if err := s.CreateZoneWithIDMap(rec, base, size); err != nil {
		t.Fatal(err)
	}
	if rec.IDMapBase != base+size {
		t.Errorf("zone got range at %d, want %d past the reserved one", rec.IDMapBase, base+size)
	}
}

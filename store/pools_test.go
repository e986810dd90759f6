package store

import (
	"errors"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
)

func TestPoolsAndSnapshots(t *testing.T) {
	s := openTemp(t)
	if err := s.CreatePool(&PoolRecord{Name: "fast", Path: "/srv/z", Backend: "btrfs"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePool(&PoolRecord{Name: "fast"}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("second pool: %v", err)
	}
	if err := s.CreatePool(&PoolRecord{Name: "../x"}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
	for _, z := range []*ZoneRecord{zone("a"), zone("b"), zone("c")} {
		if z.Name == "b" {
			z.Pool = "fast"
		}
		if z.Name == "c" {
			z.Pool = "default"
		}
		if err := s.CreateZone(z); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.ZonesInPool("fast"); len(got) != 1 || got[0] != "b" {
		t.Fatalf("ZonesInPool(fast) = %v", got)
	}
	if got, _ := s.ZonesInPool("default"); len(got) != 2 {
		t.Fatalf("ZonesInPool(default) = %v, want a (no pool) and c", got)
	}
	for _, n := range []string{"s1", "s2"} {
		if err := s.CreateSnapshot(&SnapshotRecord{Zone: "a", Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	// A zone whose name is a prefix of another's keeps its own snapshots.
	if err := s.CreateSnapshot(&SnapshotRecord{Zone: "ab", Name: "s1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSnapshot(&SnapshotRecord{Zone: "a", Name: "s1"}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("second snapshot: %v", err)
	}
	if err := s.DeleteZoneSnapshots("a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListSnapshots(""); len(got) != 1 || got[0].Zone != "ab" {
		t.Fatalf("after deleting a's snapshots: %+v", got)
	}
	if err := s.DeletePool("fast"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListPools(); len(got) != 0 {
		t.Fatalf("pools left: %+v", got)
	}
}

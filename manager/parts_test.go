//go:build linux

package manager

import (
	"slices"
	"testing"

	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/manager/part/disk"
)

// TestZonePartsOrder checks the order the daemon runs its parts in: the
// After names must all exist, and the quota, which makes the zone's
// directory, must come before every part that keeps things in it.
func TestZonePartsOrder(t *testing.T) {
	m := &Manager{}
	m.disk = disk.New(partHost{m}, nil)
	m.net = newNetPart(m)
	parts, err := part.Order(m.zoneParts())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range parts {
		names = append(names, p.Name())
	}
	pos := func(name string) int {
		i := slices.Index(names, name)
		if i < 0 {
			t.Fatalf("no part %q in %v", name, names)
		}
		return i
	}
	for _, later := range []string{"resources", "proc view", "snapshots"} {
		if pos("disk quota") > pos(later) {
			t.Errorf("disk quota runs after %s: %v", later, names)
		}
	}
	if pos("resources") > pos("proc view") {
		t.Errorf("proc view runs before the resources it reads: %v", names)
	}
}

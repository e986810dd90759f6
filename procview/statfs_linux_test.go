package procview

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestApplyQuota(t *testing.T) {
	const k4 = 4096
	for _, tc := range []struct {
		name                string
		fsFree              uint64 // free blocks of the whole filesystem
		used, limit         int64
		blocks, free, avail uint64
	}{
		{"room in the pool", 1 << 20, 10 * k4, 100 * k4, 100, 90, 90},
		// A partly used block counts as used, as the filesystem counts it.
		{"partial block", 1 << 20, 10*k4 + 1, 100 * k4, 100, 89, 89},
		// Reservations can take use past the limit for a moment.
		{"over the limit", 1 << 20, 120 * k4, 100 * k4, 100, 0, 0},
		// The pool itself is nearly full: free is what the pool has.
		{"pool fuller than quota", 5, 10 * k4, 100 * k4, 100, 5, 5},
	} {
		st := unix.Statfs_t{Bsize: k4, Blocks: 1 << 30, Bfree: tc.fsFree, Bavail: tc.fsFree}
		applyQuota(&st, tc.used, tc.limit)
		if st.Blocks != tc.blocks || st.Bfree != tc.free || st.Bavail != tc.avail {
			t.Errorf("%s: blocks %d free %d avail %d, want %d %d %d", tc.name, st.Blocks, st.Bfree, st.Bavail, tc.blocks, tc.free, tc.avail)
		}
	}
}

// TestStatfsPlacesAreBounded: a zone gets at most statfsPerZone answers
// at once and all zones statfsInAll; an ended answer frees its place.
func TestStatfsPlacesAreBounded(t *testing.T) {
	a := &agent{statfsBusy: map[string]int{}}
	for i := 0; i < statfsPerZone; i++ {
		if !a.statfsBegin("z0") {
			t.Fatalf("answer %d of a zone refused", i)
		}
	}
	if a.statfsBegin("z0") {
		t.Fatalf("answer %d of one zone taken", statfsPerZone+1)
	}
	a.statfsEnd("z0")
	if !a.statfsBegin("z0") {
		t.Fatal("a freed place was not given again")
	}
	taken := statfsPerZone
	for z := 1; taken < statfsInAll; z++ {
		for i := 0; i < statfsPerZone && taken < statfsInAll; i++ {
			if !a.statfsBegin(string(rune('a' + z))) {
				t.Fatalf("answer refused with %d in all", taken)
			}
			taken++
		}
	}
	if a.statfsBegin("fresh") {
		t.Fatalf("a zone got an answer past %d in all", statfsInAll)
	}
	for i := 0; i < statfsPerZone; i++ {
		a.statfsEnd("z0")
	}
	if _, ok := a.statfsBusy["z0"]; ok {
		t.Error("a zone with no answer left stays counted")
	}
	if !a.statfsBegin("fresh") {
		t.Error("places freed by one zone were not given to another")
	}
}

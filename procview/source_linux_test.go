package procview

import (
	"math"
	"testing"
)

// TestLoadStartsFromZeroAtZoneStart: a zone's averages start from 0 at
// its init's start, as the kernel's at boot, and start anew when the
// zone restarts.
func TestLoadStartsFromZeroAtZoneStart(t *testing.T) {
	l := &loadTracker{zones: map[string]*loadState{}}
	// Read a second after the start with one task running: near 0.
	got := l.sample("z", 100, 1, 1)
	if want := 1 - math.Exp(-1.0/60); math.Abs(got[0]-want) > 0.005 || got[2] > got[0] {
		t.Errorf("load a second after start = %v, want 1-min %.4f and 15-min less", got, want)
	}
	// A zone running an hour with one task (a view server that started
	// late) reads close to 1 at once.
	got = l.sample("old", 100, 1, 3600)
	if got[0] < 0.99 || got[2] < 0.95 {
		t.Errorf("load of a zone running for an hour = %v, want near 1", got)
	}
	// The zone restarted (another init): its old load is gone.
	got = l.sample("old", 200, 0, 1)
	if got != [3]float64{} {
		t.Errorf("load after a restart with nothing running = %v, want 0", got)
	}
}

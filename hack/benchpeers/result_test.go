//go:build linux

package main

import (
	"strings"
	"testing"
	"time"
)

func TestResultsMedianRatiosAndOrder(t *testing.T) {
	var r Results
	// A peer skipped during setup comes first; the table must still put
	// zoned's row first within the metric.
	r.skip("1 lifecycle", "cycle", "crun", "crun is not installed")
	r.durations("1 lifecycle", "cycle", "zoned", []time.Duration{30 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}, "")
	r.durations("1 lifecycle", "cycle", "runc", []time.Duration{40 * time.Millisecond, 50 * time.Millisecond, 60 * time.Millisecond, 10 * time.Millisecond}, "")
	r.add("2 boot", "boot", "zoned", "ms", []float64{5}, "")
	r.order()
	r.ratios()

	want := []string{"zoned", "crun", "runc", "zoned"}
	for i, row := range r.Rows {
		if row.Tool != want[i] {
			t.Fatalf("row %d is %s, want %s (rows %+v)", i, row.Tool, want[i], r.Rows)
		}
	}
	z, crun, runc := r.Rows[0], r.Rows[1], r.Rows[2]
	if z.Median != 20 || z.Min != 10 || z.Max != 30 || z.Runs != 3 {
		t.Errorf("zoned row %+v: want median 20, min 10, max 30, 3 runs", z)
	}
	if runc.Median != 45 || runc.Runs != 4 {
		t.Errorf("runc row %+v: want median 45 (even count: mean of the middle two), 4 runs", runc)
	}
	if got := runc.Ratio; got < 0.444 || got > 0.445 {
		t.Errorf("ratio zoned/runc = %v, want 20/45", got)
	}
	if crun.Ratio != 0 || crun.Runs != 0 {
		t.Errorf("skipped crun row got figures: %+v", crun)
	}
	md := r.Markdown()
	for _, s := range []string{"| 1 lifecycle | cycle | crun | – | – | – | 0 | – | crun is not installed |", "| 0.44 |", "20.0 ms"} {
		if !strings.Contains(md, s) {
			t.Errorf("table lacks %q:\n%s", s, md)
		}
	}
}

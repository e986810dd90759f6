//go:build linux

package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Row is one figure of one tool in one scenario: the median of Runs
// measurements with their min and max, or, when the tool could not run the
// scenario here, the reason in Note and Runs = 0.
type Row struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Tool     string  `json:"tool"`
	Unit     string  `json:"unit"`
	Median   float64 `json:"median"`
	Min      float64 `json:"min"`
	Max      float64 `json:"max"`
	Runs     int     `json:"runs"`
	// Ratio is zoned's median divided by this tool's, on the peers' rows
	// of a metric zoned also has; 0 when there is nothing to compare.
	Ratio float64 `json:"ratio,omitempty"`
	Note  string  `json:"note,omitempty"`
}

// Results are the rows of one run plus what they were measured on.
type Results struct {
	Date    time.Time `json:"date"`
	Quick   bool      `json:"quick"`
	Machine Machine   `json:"machine"`
	Rows    []Row     `json:"rows"`
}

// add records the samples of one figure; values are in unit already.
func (r *Results) add(scenario, metric, tool, unit string, values []float64, note string) {
	row := Row{Scenario: scenario, Metric: metric, Tool: tool, Unit: unit, Note: note, Runs: len(values)}
	if len(values) > 0 {
		s := append([]float64(nil), values...)
		sort.Float64s(s)
		row.Min, row.Max = s[0], s[len(s)-1]
		if n := len(s); n%2 == 0 {
			row.Median = (s[n/2-1] + s[n/2]) / 2
		} else {
			row.Median = s[n/2]
		}
	}
	r.Rows = append(r.Rows, row)
}

// durations records time samples in milliseconds.
func (r *Results) durations(scenario, metric, tool string, ds []time.Duration, note string) {
	v := make([]float64, len(ds))
	for i, d := range ds {
		v[i] = float64(d) / float64(time.Millisecond)
	}
	r.add(scenario, metric, tool, "ms", v, note)
}

// skip records that tool cannot run a scenario here, and why.
func (r *Results) skip(scenario, metric, tool, why string) {
	r.Rows = append(r.Rows, Row{Scenario: scenario, Metric: metric, Tool: tool, Note: why})
}

// order groups the rows by scenario and metric in the order they first
// appeared, zoned's row first within each metric, so a peer that was
// skipped during setup does not sit above zoned's figure.
func (r *Results) order() {
	first := map[string]int{}
	for i, row := range r.Rows {
		for _, k := range []string{row.Scenario, row.Scenario + "\x00" + row.Metric} {
			if _, ok := first[k]; !ok {
				first[k] = i
			}
		}
	}
	sort.SliceStable(r.Rows, func(i, j int) bool {
		a, b := r.Rows[i], r.Rows[j]
		if x, y := first[a.Scenario], first[b.Scenario]; x != y {
			return x < y
		}
		if x, y := first[a.Scenario+"\x00"+a.Metric], first[b.Scenario+"\x00"+b.Metric]; x != y {
			return x < y
		}
		return a.Tool == "zoned" && b.Tool != "zoned"
	})
}

// ratios fills Ratio on every peer row whose scenario and metric zoned
// also measured.
func (r *Results) ratios() {
	zoned := map[string]float64{}
	for _, row := range r.Rows {
		if row.Tool == "zoned" && row.Runs > 0 {
			zoned[row.Scenario+"\x00"+row.Metric] = row.Median
		}
	}
	for i := range r.Rows {
		row := &r.Rows[i]
		// zoned's other ways in ("zoned (zonectl)") are zoned too, not peers.
		if z, ok := zoned[row.Scenario+"\x00"+row.Metric]; ok && !strings.HasPrefix(row.Tool, "zoned") && row.Runs > 0 && row.Median != 0 {
			row.Ratio = z / row.Median
		}
	}
}

// Markdown renders the rows as one table, scenarios in the order they ran.
func (r *Results) Markdown() string {
	var b strings.Builder
	b.WriteString("| scenario | metric | tool | median | min | max | runs | zoned/peer | note |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---|\n")
	for _, row := range r.Rows {
		if row.Runs == 0 {
			fmt.Fprintf(&b, "| %s | %s | %s | – | – | – | 0 | – | %s |\n", row.Scenario, row.Metric, row.Tool, mdEscape(row.Note))
			continue
		}
		ratio := "–"
		if row.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f", row.Ratio)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %d | %s | %s |\n", row.Scenario, row.Metric, row.Tool,
			num(row.Median, row.Unit), num(row.Min, row.Unit), num(row.Max, row.Unit), row.Runs, ratio, mdEscape(row.Note))
	}
	return b.String()
}

func num(v float64, unit string) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	default:
		return fmt.Sprintf("%.2f %s", v, unit)
	}
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

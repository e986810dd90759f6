package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
)

func ioCmd(t *testing.T, args ...string) (*cobra.Command, *limitFlags) {
	t.Helper()
	var l limitFlags
	cmd := &cobra.Command{Use: "x"}
	addLimitFlags(cmd, &l)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return cmd, &l
}

func TestIOFlags(t *testing.T) {
	cmd, l := ioCmd(t, "--io-weight", "300", "--io-read-bps", "10M", "--io-write-bps", "1.5M", "--io-read-iops", "500", "--io-write-iops", "none")
	r, err := l.resources()
	if err != nil {
		t.Fatal(err)
	}
	if r.IOWeight != 300 || r.IOReadBPS != 10<<20 || r.IOWriteBPS != 3<<19 || r.IOReadIOPS != 500 || r.IOWriteIOPS != 0 {
		t.Errorf("resources = %+v", r)
	}
	p, err := l.patch(cmd)
	if err != nil {
		t.Fatal(err)
	}
	rp := p.Resources
	if rp == nil || *rp.IOWeight != 300 || *rp.IOReadBPS != 10<<20 || rp.IOWriteIOPS == nil || *rp.IOWriteIOPS != 0 || rp.MemoryBytes != nil {
		t.Errorf("patch = %+v", rp)
	}
	for _, bad := range [][]string{
		{"--io-read-bps", "10X"}, {"--io-write-iops", "-3"}, {"--io-weight", "10001"}, {"--io-read-iops", "1.5"},
	} {
		_, l := ioCmd(t, bad...)
		if _, err := l.resources(); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: error %v, want one naming %s", bad, err, bad[0])
		}
	}
}

func TestZoneStatsTable(t *testing.T) {
	var b bytes.Buffer
	st := &api.ZoneStats{Name: "web1", State: api.StateRunning, Time: time.Unix(0, 0), CPUPercent: 12.5, MemoryBytes: 1 << 20, MemoryLimitBytes: 64 << 20,
		Processes: 3, ProcessesLimit: 100, Fails: api.ZoneFails{Memory: 4, OOMKills: 1, Forks: 7, CPUThrottledPeriods: 9}}
	if err := writeZoneStats(&b, st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"12.5%", "1MiB", "64MiB", "4 (OOM kills 1)", "7 refused forks", "9 throttled periods"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("stats table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestStatsShowQuotaFails(t *testing.T) {
	withQuota := api.ZoneStats{Name: "q1", DiskBytes: 60 << 20, DiskLimitBytes: 64 << 20, Fails: api.ZoneFails{Quota: 2}}
	fresh := api.ZoneStats{Name: "q2", DiskLimitBytes: 64 << 20}
	none := api.ZoneStats{Name: "plain"}
	var b bytes.Buffer
	if err := writeStatsTable(&b, []api.ZoneStats{withQuota, fresh, none}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`(?m)QUOTA FAILS$`, `(?m)^q1 .* 2$`, `(?m)^q2 .* 0$`, `(?m)^plain .* -$`} {
		if !regexp.MustCompile(want).MatchString(b.String()) {
			t.Errorf("stats of all zones do not match %s:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := writeZoneStats(&b, &withQuota); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^disk +60MiB +64MiB +2$`).MatchString(b.String()) {
		t.Errorf("zone stats lack the disk quota's use and 2 fails:\n%s", b.String())
	}
	// Without a quota the daemon does not measure the disk: its use is
	// unknown, not 0.
	b.Reset()
	if err := writeZoneStats(&b, &none); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`(?m)^disk +- +- +-$`, `(?m)^inodes +- +- +-$`} {
		if !regexp.MustCompile(want).MatchString(b.String()) {
			t.Errorf("stats of a zone without a quota do not match %s:\n%s", want, b.String())
		}
	}
}

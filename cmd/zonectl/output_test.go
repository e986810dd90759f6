package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/zoned-project/zoned/api"
)

func sampleZones() []api.Zone {
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return []api.Zone{
		{Name: "web2", State: api.StateStopped, Template: "debian12", CreatedAt: created},
		{Name: "web1", State: api.StateRunning, Template: "busybox", InitPID: 4242, CreatedAt: created,
			Resources: api.Resources{MemoryBytes: 512 << 20, CPULimitPercent: 150},
			Usage:     &api.Usage{MemoryBytes: 12_900_000, MemoryLimitBytes: 512 << 20, Processes: 3, CPUNanos: 1_500_000_000}},
	}
}

func TestZoneTable(t *testing.T) {
	var b bytes.Buffer
	stats := map[string]api.ZoneStats{"web1": {Name: "web1", CPUPercent: 12.5, SwapBytes: 1 << 20,
		DiskBytes: 300 << 20, DiskLimitBytes: 1 << 30, DiskInodes: 1200, DiskLimitInodes: 100000,
		NetRxBytes: 2048, NetTxBytes: 4096, IOReadBytes: 5 << 20, IOWriteBytes: 7 << 20}}
	if err := writeZoneTable(&b, sampleZones(), stats, false); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME  STATE    PID   TEMPLATE  CPU%  MEMORY          PROCS\n" +
		"web1  running  4242  busybox   12.5  12.3MiB/512MiB  3\n" +
		"web2  stopped  -     debian12  -     -               -\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := writeZoneTable(&b, sampleZones(), stats, true); err != nil {
		t.Fatal(err)
	}
	want = "" +
		"NAME  STATE    PID   TEMPLATE  CPU%  MEMORY          PROCS  SWAP  DISK         INODES       NET RX/TX  IO R/W\n" +
		"web1  running  4242  busybox   12.5  12.3MiB/512MiB  3      1MiB  300MiB/1GiB  1200/100000  2KiB/4KiB  5MiB/7MiB\n" +
		"web2  stopped  -     debian12  -     -               -      -     -            -            -          -\n"
	if b.String() != want {
		t.Errorf("wide table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestZoneTableWideWithoutQuota: a running zone without a disk quota has
// no disk figures (the daemon measures through the quota), shown "-".
func TestZoneTableWideWithoutQuota(t *testing.T) {
	var b bytes.Buffer
	stats := map[string]api.ZoneStats{"web1": {Name: "web1", SwapBytes: 1 << 20, NetRxBytes: 2048}}
	if err := writeZoneTable(&b, sampleZones(), stats, true); err != nil {
		t.Fatal(err)
	}
	line := strings.Fields(strings.Split(b.String(), "\n")[1]) // web1, sorted first
	if len(line) != 12 || line[8] != "-" || line[9] != "-" || line[10] != "2KiB/0B" {
		t.Errorf("wide line of a zone without a quota: %q", line)
	}
}

func TestMemoryColumnWithoutLimit(t *testing.T) {
	z := api.Zone{Usage: &api.Usage{MemoryBytes: 2048}}
	if got := memoryColumn(z); got != "2KiB/-" {
		t.Errorf("memoryColumn = %q", got)
	}
}

func TestJSONAndYAMLUseAPIFieldNames(t *testing.T) {
	zones := sampleZones()
	var j bytes.Buffer
	if err := writeData(&j, formatJSON, zones, nil); err != nil {
		t.Fatal(err)
	}
	var back []api.Zone
	if err := json.Unmarshal(j.Bytes(), &back); err != nil || len(back) != 2 || back[1].Usage.Processes != 3 {
		t.Fatalf("json round trip: %v %+v", err, back)
	}
	if !strings.Contains(j.String(), `"init_pid": 4242`) {
		t.Errorf("json lacks API field names:\n%s", j.String())
	}

	var y bytes.Buffer
	if err := writeData(&y, formatYAML, &zones[1], nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: web1", "init_pid: 4242", "memory_bytes: 536870912", "cpu_limit_percent: 150"} {
		if !strings.Contains(y.String(), want) {
			t.Errorf("yaml lacks %q:\n%s", want, y.String())
		}
	}
	var z api.Zone
	if err := yaml.Unmarshal(y.Bytes(), &z); err != nil || z.Name != "web1" || z.Resources.MemoryBytes != 512<<20 {
		t.Errorf("yaml round trip: %v %+v", err, z)
	}
}

func TestZoneDetails(t *testing.T) {
	z := sampleZones()[1]
	var b bytes.Buffer
	if err := writeZoneDetails(&b, &z); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"State:         running (init pid 4242)",
		"Memory limit:  512MiB",
		"Swap:          none",
		"CPU limit:     150%",
		"CPUs:          all",
		"Max processes: unlimited",
		"Memory used:   12.3MiB/512MiB",
		"CPU time:      1.5s",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("details lack %q:\n%s", want, b.String())
		}
	}
}

func TestTemplateTable(t *testing.T) {
	var b bytes.Buffer
	tpls := []api.Template{
		{Name: "debian12", Source: "debootstrap", Suite: "bookworm", SizeBytes: 200 << 20, Zones: []string{"a", "b"}},
		{Name: "busybox", Source: "builtin", SizeBytes: 1 << 20},
	}
	if err := writeTemplateTable(&b, tpls); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME      SOURCE                  SIZE    ZONES  CREATED\n" +
		"busybox   builtin                 1MiB    0      -\n" +
		"debian12  debootstrap (bookworm)  200MiB  2      -\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

//go:build linux

package integration

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/errdefs"
)

// lastCPU is the host's highest online CPU: a pin there differs from
// the default on any host with two or more CPUs.
func lastCPU(t *testing.T) int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexAny(s, ",-"); i >= 0 {
		s = s[i+1:]
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// cpuQuota reads the zone's CPU cap from the kernel as "quota period".
func (d *daemon) cpuQuota(zone string) string {
	if isUnified() {
		return d.cgroupFile(zone, "", "cpu.max")
	}
	return d.cgroupFile(zone, "cpu", "cpu.cfs_quota_us") + " " + d.cgroupFile(zone, "cpu", "cpu.cfs_period_us")
}

// ioMax reads the zone's IO caps as the kernel lists them, one
// "maj:min what=value" per cap, sorted by the kernel.
func (d *daemon) ioCaps(zone string) string {
	if isUnified() {
		return d.cgroupFile(zone, "", "io.max")
	}
	var out []string
	for _, f := range []string{"read_bps", "write_bps", "read_iops", "write_iops"} {
		for _, line := range strings.Split(d.cgroupFile(zone, "blkio", "blkio.throttle."+f+"_device"), "\n") {
			if line != "" {
				out = append(out, f+" "+line)
			}
		}
	}
	return strings.Join(out, "; ")
}

// ioDevice says whether the daemon's data dir is on a block device, which
// IO caps need; the stock-kernel lane's is a tmpfs.
func (d *daemon) ioDevice() bool {
	_, err := cgroups.DeviceOf(d.dataDir)
	if err != nil {
		d.t.Logf("IO caps not checked: %v", err)
	}
	return err == nil
}

func (d *daemon) stats(zone string) *api.ZoneStats {
	d.t.Helper()
	st, err := d.c.ZoneStats(ctxT(d.t), zone)
	if err != nil {
		d.t.Fatalf("stats of %s: %v", zone, err)
	}
	return st
}

// TestCPULimitsEnforcedInZone: a pinned zone runs only on its CPU, and a
// busy loop under a 20% cap is throttled, as its fail counter says.
func TestCPULimitsEnforcedInZone(t *testing.T) {
	d := startDaemon(t)
	cpu := lastCPU(t)
	d.createStarted("cpu", api.Resources{CPUs: strconv.Itoa(cpu), CPULimitPercent: 20})
	if got := strings.TrimSpace(d.mustExec("cpu", "sh", "-c", "grep Cpus_allowed_list /proc/self/status | cut -f2")); got != strconv.Itoa(cpu) {
		t.Errorf("inside the zone Cpus_allowed_list = %q, want %d", got, cpu)
	}
	if got := d.cpuQuota("cpu"); got != "20000 100000" {
		t.Errorf("kernel CPU quota = %q, want 20000 100000", got)
	}
	// A busy loop for as long as the test waits; killed with the zone.
	d.mustExec("cpu", "sh", "-c", "(while :; do :; done) </dev/null >/dev/null 2>&1 &")
	waitFor(t, time.Minute, "the CPU limit to throttle the zone", func() bool {
		return d.stats("cpu").Fails.CPUThrottledPeriods > 0
	})
	st := d.stats("cpu")
	if st.Fails.CPUThrottledNanos == 0 || st.CPUNanos == 0 {
		t.Errorf("throttled without throttled time or CPU time: %+v", st)
	}
}

// TestIOCapEnforcedInZone: a direct write inside a zone capped at 4 MiB/s
// runs at about that rate, far below the disk's own speed.
func TestIOCapEnforcedInZone(t *testing.T) {
	d := startDaemon(t)
	if !d.ioDevice() {
		t.Skipf("data dir %s is not on a block device: nothing to cap", d.dataDir)
	}
	const capBPS = 4 << 20
	d.createStarted("io", api.Resources{IOWriteBPS: capBPS, IOReadBPS: 8 << 20, IOReadIOPS: 5000, IOWriteIOPS: 4000})
	caps := d.ioCaps("io")
	if !strings.Contains(caps, strconv.Itoa(capBPS)) || !strings.Contains(caps, "4000") {
		t.Fatalf("kernel IO caps %q lack the write cap %d and the 4000 iops", caps, capBPS)
	}
	// 16 MiB with O_DIRECT, so the writes reach the disk inside dd and
	// the cap is what paces them (not the page cache).
	begin := time.Now()
	r := d.exec("io", "", "dd", "if=/dev/zero", "of=/root/io.bin", "bs=1M", "count=16", "oflag=direct")
	took := time.Since(begin)
	if r.code != 0 {
		t.Skipf("dd with oflag=direct fails in the zone (filesystem under %s without O_DIRECT?): %+v", d.dataDir, r)
	}
	rate := float64(16<<20) / took.Seconds()
	t.Logf("16 MiB direct write under a %d B/s cap: %s, %.0f B/s", capBPS, took, rate)
	// Ballpark, not timing: the throttle lets a first slice through, so
	// allow up to twice the cap.
	if rate > 2*capBPS {
		t.Errorf("write ran at %.0f B/s under a %d B/s cap", rate, capBPS)
	}
	if st := d.stats("io"); st.IOWriteBytes < 16<<20 || st.IOWriteOps == 0 {
		t.Errorf("stats count %d bytes in %d writes, want at least 16 MiB", st.IOWriteBytes, st.IOWriteOps)
	}
	// Lifting the cap live takes effect at once.
	zero := int64(0)
	if _, err := d.c.UpdateZone(ctxT(t), "io", api.ZonePatch{Resources: &api.ResourcesPatch{IOWriteBPS: &zero}}); err != nil {
		t.Fatal(err)
	}
	if caps := d.ioCaps("io"); strings.Contains(caps, "write_bps") || strings.Contains(caps, "wbps="+strconv.Itoa(capBPS)) {
		t.Errorf("write cap still in the kernel after lifting it: %q", caps)
	}
}

// TestFailCountersAndOOMEvent: a memory hog in a small zone is an event on
// GET /v1/events and raises the memory fail counters; a fork bomb
// raises the refused-fork counter.
func TestFailCountersAndOOMEvent(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	events, err := d.c.Events(ctx, api.EventFilter{Types: []string{api.EventZoneOOM}})
	if err != nil {
		t.Fatal(err)
	}
	d.createStarted("hog", api.Resources{MemoryBytes: 32 << 20, PidsMax: 30})
	before := d.stats("hog")
	if before.Fails.OOMKills != 0 || before.Fails.Forks != 0 {
		t.Fatalf("fresh zone has fail counts: %+v", before.Fails)
	}
	r := d.exec("hog", "", "awk", memHog)
	if r.code == 0 {
		t.Fatalf("allocating 200 MiB in a 32 MiB zone succeeded")
	}
	waitOOM(t, events, "hog")
	after := d.stats("hog")
	if after.Fails.OOMKills < 1 {
		t.Errorf("OOM kill counter did not rise: %+v", after.Fails)
	}
	if after.Fails.Memory < 1 {
		t.Errorf("memory fail counter did not rise: %+v", after.Fails)
	}
	d.exec("hog", "", "sh", "-c", "for i in $(seq 60); do sleep 600 </dev/null >/dev/null 2>&1 & done")
	if st := d.stats("hog"); st.Fails.Forks < 1 || st.Processes > 30 {
		t.Errorf("after a fork bomb under pids 30: %d refused forks, %d processes", st.Fails.Forks, st.Processes)
	}
	// zonectl shows the counters.
	out, stderr, code := d.zonectl("", "stats", "hog")
	if code != 0 || !strings.Contains(out, "refused forks") || !strings.Contains(out, "OOM kills") {
		t.Errorf("zonectl stats: %d %q %q", code, out, stderr)
	}
}

// memHog is an awk program that doubles a string until it holds 256 MiB.
const memHog = `BEGIN { s = "x"; while (length(s) < 268435456) s = s s; print length(s) }`

// waitOOM waits for a zone-oom event about zone.
func waitOOM(t *testing.T, events <-chan api.Event, zone string) {
	t.Helper()
	if e := waitEvent(t, events, api.EventZoneOOM, zone, time.Minute); !strings.Contains(e.Message, "OOM") {
		t.Errorf("OOM event message %q", e.Message)
	}
}

// waitEvent waits for an event of type typ about zone.
func waitEvent(t *testing.T, events <-chan api.Event, typ, zone string, timeout time.Duration) api.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("events stream ended before a %s event", typ)
			}
			if e.Type == typ && e.Zone == zone {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event for zone %s within %s", typ, zone, timeout)
		}
	}
}

// TestLimitsSurviveDaemonRestart: limits set live are what the kernel has
// and what the store says after a daemon restart, the restarted daemon
// still applies live changes, and watches adopted zones for OOM kills.
func TestLimitsSurviveDaemonRestart(t *testing.T) {
	d := startDaemon(t)
	d.createStarted("keep", api.Resources{MemoryBytes: 64 << 20})
	cpu := lastCPU(t)
	io := d.ioDevice()
	args := []string{"set", "keep", "--cpus", strconv.Itoa(cpu), "--cpu-limit", "50%", "--memory", "32M"}
	if io {
		args = append(args, "--io-write-bps", "3M", "--io-read-iops", "900")
	}
	if _, stderr, code := d.zonectl("", args...); code != 0 {
		t.Fatalf("zonectl set: %s", stderr)
	}
	check := func(when string) {
		t.Helper()
		z, err := d.c.GetZone(ctxT(t), "keep")
		if err != nil {
			t.Fatal(err)
		}
		r := z.Resources
		if r.CPUs != strconv.Itoa(cpu) || r.CPULimitPercent != 50 || r.MemoryBytes != 32<<20 || io && (r.IOWriteBPS != 3<<20 || r.IOReadIOPS != 900) {
			t.Errorf("%s: stored resources %+v", when, r)
		}
		if caps := d.ioCaps("keep"); io && (!strings.Contains(caps, strconv.Itoa(3<<20)) || !strings.Contains(caps, "900")) {
			t.Errorf("%s: kernel IO caps %q", when, caps)
		}
		if got := d.cpuQuota("keep"); got != "50000 100000" {
			t.Errorf("%s: kernel CPU quota %q", when, got)
		}
		if got := d.memoryLimit("keep"); got != 32<<20 {
			t.Errorf("%s: kernel memory limit %d", when, got)
		}
		if got := strings.TrimSpace(d.mustExec("keep", "sh", "-c", "grep Cpus_allowed_list /proc/self/status | cut -f2")); got != strconv.Itoa(cpu) {
			t.Errorf("%s: Cpus_allowed_list %q", when, got)
		}
	}
	check("after set")
	d.kill9()
	d.start()
	check("after a daemon kill and restart")
	// The adopted zone is watched for OOM kills.
	events, err := d.c.Events(ctxT(t), api.EventFilter{Zone: "keep", Types: []string{api.EventZoneOOM}})
	if err != nil {
		t.Fatal(err)
	}
	if r := d.exec("keep", "", "awk", memHog); r.code == 0 {
		t.Fatal("200 MiB fit in 32 MiB")
	}
	waitOOM(t, events, "keep")
	// A zone restart applies the stored limits to its new cgroup.
	if _, err := d.c.RestartZone(ctxT(t), "keep", api.StopRequest{Force: true}); err != nil {
		t.Fatal(err)
	}
	check("after a zone restart")
}

// TestBadResourceValuesChangeNothing: every bad value is refused with an
// invalid_argument error naming the field, on create and on set, and the
// zone's limits stay as they were.
func TestBadResourceValuesChangeNothing(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	wbps := int64(0)
	if d.ioDevice() {
		wbps = 5 << 20
	}
	d.createStarted("good", api.Resources{MemoryBytes: 64 << 20, PidsMax: 50, IOWriteBPS: wbps})
	neg, huge, bigWeight := int64(-1), int64(1)<<50, uint64(20000)
	tooMuchCPU := int64(runtime.NumCPU()*100 + 100)
	noCPU := "0-4095"
	for _, tc := range []struct {
		name  string
		field string
		res   api.Resources
		patch api.ResourcesPatch
	}{
		{"negative memory", "memory_bytes", api.Resources{MemoryBytes: -1}, api.ResourcesPatch{MemoryBytes: &neg}},
		{"memory above host RAM", "memory_bytes", api.Resources{MemoryBytes: huge}, api.ResourcesPatch{MemoryBytes: &huge}},
		{"CPU limit above host", "cpu_limit_percent", api.Resources{CPULimitPercent: tooMuchCPU}, api.ResourcesPatch{CPULimitPercent: &tooMuchCPU}},
		{"cpuset the host lacks", "cpus", api.Resources{CPUs: noCPU}, api.ResourcesPatch{CPUs: &noCPU}},
		{"negative pids", "pids_max", api.Resources{PidsMax: -1}, api.ResourcesPatch{PidsMax: &neg}},
		{"IO weight out of range", "io_weight", api.Resources{IOWeight: bigWeight}, api.ResourcesPatch{IOWeight: &bigWeight}},
		{"negative write bps", "io_write_bps", api.Resources{IOWriteBPS: -1}, api.ResourcesPatch{IOWriteBPS: &neg}},
		{"negative read iops", "io_read_iops", api.Resources{IOReadIOPS: -1}, api.ResourcesPatch{IOReadIOPS: &neg}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "bad", Template: "busybox", Resources: tc.res})
			checkInvalid(t, "create", err, tc.field)
			if _, err := d.c.GetZone(ctx, "bad"); err == nil {
				t.Errorf("a refused create left zone bad")
			}
			_, err = d.c.UpdateZone(ctx, "good", api.ZonePatch{Resources: &tc.patch})
			checkInvalid(t, "set", err, tc.field)
			z, err := d.c.GetZone(ctx, "good")
			if err != nil || z.Resources.MemoryBytes != 64<<20 || z.Resources.PidsMax != 50 || z.Resources.IOWriteBPS != wbps || z.Resources.CPUs != "" {
				t.Errorf("refused set changed the stored limits: %+v %v", z.Resources, err)
			}
			if d.memoryLimit("good") != 64<<20 || d.pidsLimit("good") != "50" || wbps > 0 && !strings.Contains(d.ioCaps("good"), strconv.Itoa(5<<20)) {
				t.Errorf("refused set changed the kernel's limits")
			}
		})
	}
	// Units zonectl does not know are refused before the daemon is asked.
	_, stderr, code := d.zonectl("", "set", "good", "--io-read-bps", "10X")
	if code == 0 || !strings.Contains(stderr, "--io-read-bps") || !strings.Contains(stderr, "unknown unit") {
		t.Errorf("zonectl set --io-read-bps 10X: code %d, %q", code, stderr)
	}
	_, stderr, code = d.zonectl("", "create", "bad2", "--io-write-iops", "-3")
	if code == 0 || !strings.Contains(stderr, "--io-write-iops") {
		t.Errorf("zonectl create --io-write-iops -3: code %d, %q", code, stderr)
	}
}

func checkInvalid(t *testing.T, what string, err error, field string) {
	t.Helper()
	var ae *client.Error
	if !errors.As(err, &ae) {
		t.Fatalf("%s: error %v, want an API error", what, err)
	}
	if ae.Code != "invalid_argument" || !strings.Contains(ae.Message, field) {
		t.Errorf("%s: %s %q (field %q), want invalid_argument naming %s", what, ae.Code, ae.Message, ae.Field, field)
	}
}

// TestStatsOfAllZonesAndNetwork: GET /v1/stats answers every running zone
// in one call, and a zone's network counters are its own namespace's.
func TestStatsOfAllZonesAndNetwork(t *testing.T) {
	d := startDaemon(t)
	d.createStarted("s1", api.Resources{MemoryBytes: 64 << 20})
	d.createStarted("s2", api.Resources{})
	if _, err := d.c.CreateZone(ctxT(t), api.CreateZoneRequest{Name: "s3", Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	// ARP out of a veth pair inside s1 (busybox names the peer veth0) (10.99.0.2 never answers) counts as
	// its traffic, and only its.
	r := d.exec("s1", "", "sh", "-c", "ip link add va type veth && ip addr add 10.99.0.1/24 dev va && ip link set veth0 up && ip link set va up && ping -c 3 -W 1 10.99.0.2; true")
	all, err := d.c.AllStats(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "s1" || all[1].Name != "s2" {
		t.Fatalf("stats of all zones: %+v, want s1 and s2 (s3 is stopped)", all)
	}
	if all[0].MemoryLimitBytes != 64<<20 || all[0].Processes == 0 || all[0].CPUNanos == 0 {
		t.Errorf("s1 stats %+v", all[0])
	}
	if strings.Contains(r.stderr, "ip: ") || r.code != 0 {
		t.Logf("no veth pair in the zone (%q): network counters not checked", r.stderr)
	} else if all[0].NetTxPackets < 3 || all[1].NetTxPackets != 0 {
		t.Errorf("tx packets: s1 %d (want >= 3), s2 %d (want 0)", all[0].NetTxPackets, all[1].NetTxPackets)
	}
	if _, err := d.c.ZoneStats(ctxT(t), "s3"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("stats of a stopped zone: %v, want a conflict", err)
	}
	out, _, code := d.zonectl("", "list")
	if code != 0 || !strings.Contains(out, "CPU%") {
		t.Errorf("zonectl list lacks CPU%%: %q", out)
	}
	// The wide list has the running zones' figures and dashes for s3.
	out, _, code = d.zonectl("", "list", "--wide")
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			rows[f[0]] = f
		}
	}
	if code != 0 || len(rows["NAME"]) != 14 || rows["NAME"][7] != "SWAP" {
		t.Fatalf("zonectl list --wide header: %q", out)
	}
	if f := rows["s1"]; len(f) != 12 || f[10] == "-" || !strings.Contains(f[10], "/") {
		t.Errorf("s1 in the wide list (NET RX/TX at 11): %q", f)
	}
	if f := rows["s3"]; len(f) != 12 || f[10] != "-" {
		t.Errorf("stopped s3 in the wide list: %q", f)
	}
}

// TestMetricsHaveFailCountersAndIO: /metrics carries each running zone's
// fail counters and IO, matching its stats.
func TestMetricsHaveFailCountersAndIO(t *testing.T) {
	d := startDaemon(t)
	d.createStarted("mf", api.Resources{PidsMax: 20})
	// The write first: once the bomb fills the pids limit, exec cannot fork.
	d.mustExec("mf", "dd", "if=/dev/zero", "of=/root/m.bin", "bs=64k", "count=16", "oflag=direct")
	d.exec("mf", "", "sh", "-c", "for i in $(seq 40); do sleep 600 </dev/null >/dev/null 2>&1 & done")
	m := d.scrape(t)
	st := d.stats("mf")
	if got := m[`zoned_zone_fork_failures_total{zone="mf"}`]; got < 1 || got > float64(st.Fails.Forks) {
		t.Errorf("fork failures in metrics %v, stats %d", got, st.Fails.Forks)
	}
	if got := m[`zoned_zone_io_write_bytes_total{zone="mf"}`]; got < 1<<20 {
		t.Errorf("IO write bytes in metrics %v, want at least 1 MiB", got)
	}
	for _, name := range []string{"zoned_zone_oom_kills_total", "zoned_zone_memory_failures_total", "zoned_zone_cpu_throttled_seconds_total", "zoned_zone_io_read_ops_total", "zoned_zone_network_receive_bytes_total"} {
		if _, ok := m[name+`{zone="mf"}`]; !ok {
			t.Errorf("metrics lack %s for zone mf", name)
		}
	}
}

// TestIOWeightRefusedWhereItWouldDoNothing: on a device whose scheduler
// ignores weights (here vda uses none; the lane's data dir has no device)
// an IO weight is refused as unsupported with the reason, and no zone is
// left.
func TestIOWeightRefusedWhereItWouldDoNothing(t *testing.T) {
	d := startDaemon(t)
	if dev, err := cgroups.DeviceOf(d.dataDir); err == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/sys/dev/block/%s/queue/scheduler", dev)); strings.Contains(string(b), "[bfq]") {
			t.Skipf("device %s of the data dir uses bfq: a weight acts there", dev)
		}
	}
	_, err := d.c.CreateZone(ctxT(t), api.CreateZoneRequest{Name: "w", Template: "busybox", Resources: api.Resources{IOWeight: 300}})
	if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "IO") {
		t.Fatalf("create with an IO weight the device ignores: %v, want unsupported naming IO", err)
	}
	if _, err := d.c.GetZone(ctxT(t), "w"); err == nil {
		t.Error("a refused create left zone w")
	}
}

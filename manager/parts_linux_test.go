package manager

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/namespaces"
	"github.com/zoned-project/zoned/store"
)

// richPart takes the optional steps too (part.ResourceUpdater, Warner,
// StatsFiller, SeccompAdder), and looks at the daemon through its Host.
type richPart struct {
	part.Base
	host part.Host
}

func (richPart) Name() string { return "rich" }

func (p richPart) UpdateResources(rec *store.ZoneRecord, res *api.Resources, patch *api.ResourcesPatch) error {
	if patch.PidsMax != nil && *patch.PidsMax == 666 {
		return errdefs.WithField("resources.pids_max", errors.New("rich part refuses 666"))
	}
	res.DiskBytes = 4096 // what it applied
	return nil
}

func (p richPart) Warnings(zone string) []string {
	if p.host.Running(zone) {
		return []string{"rich part runs with less"}
	}
	return nil
}

func (richPart) FillStats(zone string, st *api.ZoneStats) { st.NetRxBytes = 7 }

func (richPart) ExecSeccomp(zone string, sc *specs.LinuxSeccomp) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{zone}}}}
}

func TestOptionalPartSteps(t *testing.T) {
	tz := newTestZones(t)
	tz.close()
	rp := &richPart{}
	tz.extra = rp
	tz.open()
	rp.host = partHost{tz.m}

	z := tz.start("z")
	if len(z.Warnings) != 1 || z.Warnings[0] != "rich part runs with less" {
		t.Errorf("warnings %v", z.Warnings)
	}
	pids := int64(666)
	if _, err := tz.m.UpdateZone(ctx, "z", api.ZonePatch{Resources: &api.ResourcesPatch{PidsMax: &pids}}); err == nil || errdefs.Field(err) != "resources.pids_max" {
		t.Errorf("update the part refuses: %v", err)
	}
	pids = 100
	z, err := tz.m.UpdateZone(ctx, "z", api.ZonePatch{Resources: &api.ResourcesPatch{PidsMax: &pids}})
	if err != nil || z.Resources.DiskBytes != 4096 || z.Resources.PidsMax != 100 {
		t.Errorf("update: %v %+v", err, z.Resources)
	}
	st, err := tz.m.ZoneStats(ctx, "z")
	if err != nil || st.NetRxBytes != 7 {
		t.Errorf("stats: %v %+v", err, st)
	}
	if sc := tz.m.execSeccomp(tz.record("z")); sc == nil || sc.Syscalls[0].Names[0] != "z" {
		t.Errorf("exec seccomp %+v", sc)
	}

	// What the host lends parts.
	h := partHost{tz.m}
	if h.Store() != tz.m.store || h.Logger() == nil || h.DataDir() != tz.cfg.DataDir || h.CgroupParent() != "/zoned-test" || h.CgroupPath("z") != "/zoned-test/z" {
		t.Error("the part host does not tell the daemon's own")
	}
	sub := tz.m.events.subscribe(api.EventFilter{Types: []string{api.EventZoneOOM}})
	defer sub.Close()
	h.Emit(api.EventZoneOOM, "z", api.StateRunning, "from a part")
	select {
	case e := <-sub.C():
		if e.Zone != "z" || e.Message != "from a part" {
			t.Errorf("event %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Error("no event from the part")
	}
}

func TestCPUPercent(t *testing.T) {
	p := newResourcePart(partHost{&Manager{}})
	t0 := time.Unix(1000, 0)
	// Without a start time the first sample is the base.
	if pct := p.cpuPercent("z", 1e9, t0, nil); pct != 0 {
		t.Errorf("first sample %v", pct)
	}
	// Half a CPU over two seconds.
	if pct := p.cpuPercent("z", 2e9, t0.Add(2*time.Second), nil); pct != 50 {
		t.Errorf("percent %v, want 50", pct)
	}
	// Within the window the last figure is repeated.
	if pct := p.cpuPercent("z", 9e9, t0.Add(2500*time.Millisecond), nil); pct != 50 {
		t.Errorf("percent within the window %v, want 50", pct)
	}
	// From the start of the run when there is no sample yet.
	started := t0
	if pct := p.cpuPercent("y", 4e9, t0.Add(4*time.Second), &started); pct != 100 {
		t.Errorf("percent since the start %v, want 100", pct)
	}
	if p.startedAt("y") != nil || (*resourcePart)(nil).startedAt("y") != nil {
		t.Error("a zone not watched has a start time")
	}
	p.unwatch("z")
	if pct := p.cpuPercent("z", 9e9, t0.Add(10*time.Second), nil); pct != 0 {
		t.Errorf("after unwatch the sample starts again: %v", pct)
	}
}

// TestRealRuntimeAdapters checks what of the real zone runtime works
// without root: following a process, its console.
func TestRealRuntimeAdapters(t *testing.T) {
	var rt zoneRuntime = nsRuntime{}
	start, err := namespaces.StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !rt.Alive(os.Getpid(), start) || rt.Alive(os.Getpid(), start+1) {
		t.Error("Alive does not tell this process by its start time")
	}
	if err := rt.Signal(os.Getpid(), start+1, syscall.Signal(0)); err == nil {
		t.Error("a process of another start time was signalled")
	}
	master, slave, err := rt.OpenConsole(os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	master.Close()
	slave.Close()
	if (hostCgroups{}).Mode() == "" {
		t.Error("no cgroup mode")
	}
}

package manager

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/namespaces"
	"github.com/zoned-project/zoned/store"
)

// These tests run the manager's lifecycle (create, start, stop, destroy,
// reconcile) against the fakes of fakes_linux_test.go: no root needed.
// Parts "a" and "b" run in that order (b is After a), so their undo and
// their stop and destroy steps must come b first.

var ctx = context.Background()

func TestCreateZoneSteps(t *testing.T) {
	tz := newTestZones(t)
	tz.log.take()
	z, err := tz.m.CreateZone(ctx, api.CreateZoneRequest{Name: "web", Template: testTemplate, Privileged: true, Labels: map[string]string{"tier": "front"}})
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "create", tz.log.take(), []string{
		"a.validate", "b.validate",
		"root.create", "root.write /etc/hostname", "root.write /etc/machine-id", "root.detect-init",
		"a.create", "b.create",
	})
	if z.State != api.StateStopped || z.Template != testTemplate || z.Hostname != "web" || !z.Privileged {
		t.Errorf("zone %+v", z)
	}
	if got := tz.roots.file("web", "/etc/hostname"); got != "web\n" {
		t.Errorf("hostname file %q", got)
	}
	if got := tz.roots.file("web", "/etc/machine-id"); len(got) != 33 {
		t.Errorf("machine-id %q", got)
	}
	rec := tz.record("web")
	if rec == nil || rec.State != api.StateStopped || rec.CgroupPath != "/zoned-test/web" {
		t.Fatalf("record %+v", rec)
	}
	if rec.Spec.Annotations[stopSignalAnnotation] != "12" || rec.Spec.Annotations[initKindAnnotation] != "busybox" {
		t.Errorf("annotations %v", rec.Spec.Annotations)
	}
	if rec.Spec.Hostname != "web" || rec.Spec.Linux.CgroupsPath != "/zoned-test/web" {
		t.Errorf("spec hostname %q cgroup %q", rec.Spec.Hostname, rec.Spec.Linux.CgroupsPath)
	}
	// A second zone of that name is refused before anything is made,
	// and the first is left alone.
	_, err = tz.m.CreateZone(ctx, api.CreateZoneRequest{Name: "web", Template: testTemplate, Privileged: true})
	if !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("second create: %v, want already exists", err)
	}
	wantCalls(t, "refused create", only(tz.log.take(), "root.", "a.create", "b.create"), nil)
	if !tz.roots.has("web") || tz.record("web") == nil {
		t.Error("a refused create undid the zone that was there")
	}
}

func TestCreateZoneUnprivileged(t *testing.T) {
	tz := newTestZones(t)
	tz.log.take()
	z, err := tz.m.CreateZone(ctx, api.CreateZoneRequest{Name: "u1", Template: testTemplate})
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "create", only(tz.log.take(), "root.", "runtime."), []string{
		"root.create", "root.map-ids", "root.write /etc/hostname", "root.write /etc/machine-id", "root.detect-init", "runtime.probe",
	})
	if z.Privileged || z.IDMap == nil || z.IDMap.HostID != DefaultIDMapBase || z.IDMap.Size != IDMapSize {
		t.Errorf("zone %+v idmap %+v", z, z.IDMap)
	}
	// The probe runs once per pool and template.
	if _, err := tz.m.CreateZone(ctx, api.CreateZoneRequest{Name: "u2", Template: testTemplate}); err != nil {
		t.Fatal(err)
	}
	if calls := only(tz.log.take(), "runtime.probe"); len(calls) != 0 {
		t.Errorf("second create probed again: %v", calls)
	}
	if rec := tz.record("u2"); rec.IDMapBase != DefaultIDMapBase+IDMapSize {
		t.Errorf("second zone's IDs start at %d", rec.IDMapBase)
	}
}

// TestCreateZoneUndo fails each step of a create in turn: the error
// names the step, what ran before is undone in reverse order, and
// nothing is left: no record, no root.
func TestCreateZoneUndo(t *testing.T) {
	for _, c := range []struct {
		fail     string
		priv     bool
		wantErr  string
		wantUndo []string
	}{
		{fail: "root.create", priv: true, wantErr: "create root: fake root.create failed"},
		{fail: "root.map-ids", wantErr: "fake root.map-ids failed", wantUndo: []string{"root.delete"}},
		{fail: "root.write /etc/hostname", priv: true, wantErr: "write /etc/hostname", wantUndo: []string{"root.delete"}},
		{fail: "root.detect-init", priv: true, wantErr: "find the template's init", wantUndo: []string{"root.delete"}},
		{fail: "runtime.probe", wantErr: "this host cannot run unprivileged zones", wantUndo: []string{"root.delete"}},
		{fail: "a.create", priv: true, wantErr: "a: fake a.create failed", wantUndo: []string{"root.delete"}},
		{fail: "b.create", priv: true, wantErr: "b: fake b.create failed", wantUndo: []string{"a.undo-create", "root.delete"}},
	} {
		t.Run(c.fail, func(t *testing.T) {
			tz := newTestZones(t)
			tz.log.failOn(c.fail)
			tz.log.take()
			_, err := tz.m.CreateZone(ctx, api.CreateZoneRequest{Name: "z", Template: testTemplate, Privileged: c.priv})
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.HasPrefix(err.Error(), `create zone "z": `) {
				t.Fatalf("error %v, want one saying %q", err, c.wantErr)
			}
			calls := tz.log.take()
			i := indexOf(calls, c.fail)
			if i < 0 {
				t.Fatalf("%s never ran: %v", c.fail, calls)
			}
			wantCalls(t, "undo", calls[i+1:], c.wantUndo)
			if tz.record("z") != nil {
				t.Error("the record is left")
			}
			if tz.roots.has("z") {
				t.Error("the root is left")
			}
			// The name is free again, and so are the host IDs.
			tz.log.clearFailures()
			if _, err := tz.m.CreateZone(ctx, api.CreateZoneRequest{Name: "z", Template: testTemplate}); err != nil {
				t.Fatalf("create after the undo: %v", err)
			}
			if rec := tz.record("z"); rec.IDMapBase != DefaultIDMapBase {
				t.Errorf("the failed create kept its host IDs: the next zone's start at %d", rec.IDMapBase)
			}
		})
	}
}

// TestCreateZoneUndoFinalSave: when the last save fails, every part's
// create is undone too.
func TestCreateZoneUndoFinalSave(t *testing.T) {
	tz := newTestZones(t)
	tz.parts[0].onCreate = func(rec *store.ZoneRecord) { // b, the last part
		if err := tz.m.store.DeleteZone(rec.Name); err != nil {
			t.Error(err)
		}
	}
	tz.log.take()
	_, err := tz.m.CreateZone(ctx, api.CreateZoneRequest{Name: "z", Template: testTemplate, Privileged: true})
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("error %v, want the save's not found", err)
	}
	calls := tz.log.take()
	wantCalls(t, "undo", calls[indexOf(calls, "b.create")+1:], []string{"b.undo-create", "a.undo-create", "root.delete"})
	if tz.roots.has("z") {
		t.Error("the root is left")
	}
}

// TestCreateZoneUndoFill: a clone's or import's fill that fails undoes
// the root and the record, and its error says so.
func TestCreateZoneUndoFill(t *testing.T) {
	tz := newTestZones(t)
	tz.log.take()
	_, err := tz.m.createZone(ctx, api.CreateZoneRequest{Name: "z", Template: testTemplate, Privileged: true}, func(rec *store.ZoneRecord) error {
		if !tz.roots.has(rec.Name) || rec.State != api.StateCreating {
			t.Errorf("fill runs on %+v before the root exists", rec)
		}
		return errors.New("fill failed")
	})
	if err == nil || err.Error() != `create zone "z": fill failed` {
		t.Fatalf("error %v", err)
	}
	wantCalls(t, "create with a failed fill", tz.log.take(), []string{"a.validate", "b.validate", "root.create", "root.delete"})
	if tz.record("z") != nil || tz.roots.has("z") {
		t.Error("the failed create left the zone")
	}
}

func TestCreateZoneRefusesBadRequests(t *testing.T) {
	tz := newTestZones(t)
	for _, c := range []struct {
		req   api.CreateZoneRequest
		field string
	}{
		{api.CreateZoneRequest{Name: "-bad"}, "name"},
		{api.CreateZoneRequest{Name: "ok", Template: "../x"}, "template"},
		{api.CreateZoneRequest{Name: "ok", Template: testTemplate, Hostname: "a..b"}, "hostname"},
		{api.CreateZoneRequest{Name: "ok", Template: testTemplate, Devices: []string{"nosuch"}}, "devices"},
		{api.CreateZoneRequest{Name: "ok", Template: testTemplate, Pool: "nosuch"}, "pool"},
		{api.CreateZoneRequest{Name: "ok", Template: "missing"}, "template"},
		{api.CreateZoneRequest{Name: "ok", Template: testTemplate, Resources: api.Resources{CPULimitPercent: -1}}, "resources"},
	} {
		_, err := tz.m.CreateZone(ctx, c.req)
		if err == nil || errdefs.Field(err) != c.field {
			t.Errorf("%+v: error %v, want one on field %q", c.req, err, c.field)
		}
	}
	if calls := only(tz.log.take(), "root.create"); len(calls) != 0 {
		t.Errorf("a refused request made a root: %v", calls)
	}
	if tz.record("ok") != nil {
		t.Error("a refused request left a record")
	}
}

func TestStartZoneSteps(t *testing.T) {
	tz := newTestZones(t)
	tz.create("web")
	tz.log.take()
	z, err := tz.m.StartZone(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "start", tz.log.take(), []string{
		"cgroup.new", "cgroup.limit-tree", "runtime.console",
		"a.prestart", "b.prestart",
		"runtime.spawn", "cgroup.add-proc", "a.start", "b.start",
	})
	if z.State != api.StateRunning || z.InitPID == 0 || z.Usage == nil || z.Usage.MemoryBytes != 1<<20 {
		t.Errorf("zone %+v usage %+v", z, z.Usage)
	}
	rec := tz.record("web")
	if rec.State != api.StateRunning || rec.InitPID != z.InitPID || rec.InitStartTime != 42 || rec.StartedAt == nil {
		t.Errorf("record %+v", rec)
	}
	if !tz.m.isRunning("web") {
		t.Error("the manager does not watch the zone")
	}
	opts := tz.rt.spawned[0]
	if opts.Config.Spec.Root.Path != "/fake/zones/web/root" || opts.Config.RootMount.Source != testTemplate || !opts.Config.CgroupV2 {
		t.Errorf("spawned with %+v", opts.Config)
	}
	// A running zone is not started twice.
	if _, err := tz.m.StartZone(ctx, "web"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("second start: %v, want conflict", err)
	}
}

func TestStartZoneUnprivilegedDelegates(t *testing.T) {
	tz := newTestZones(t)
	if _, err := tz.m.CreateZone(ctx, api.CreateZoneRequest{Name: "u", Template: testTemplate}); err != nil {
		t.Fatal(err)
	}
	tz.log.take()
	if _, err := tz.m.StartZone(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if calls := only(tz.log.take(), "cgroup."); indexOf(calls, "cgroup.delegate") != 2 {
		t.Errorf("cgroup steps %v: want the group delegated after its tree limits", calls)
	}
}

// TestStartZoneUndo fails each step of a start in turn: what ran before
// is undone in reverse order, the zone is stopped with the error as its
// last exit, and no cgroup or init is left.
func TestStartZoneUndo(t *testing.T) {
	cgroupUndo := []string{"cgroup.kill", "cgroup.delete"}
	for _, c := range []struct {
		fail     string
		wantErr  string
		wantUndo []string
	}{
		{fail: "cgroup.new", wantErr: "create cgroup: fake cgroup.new failed"},
		{fail: "cgroup.limit-tree", wantErr: "create cgroup: fake cgroup.limit-tree failed", wantUndo: cgroupUndo},
		{fail: "runtime.console", wantErr: "fake runtime.console failed", wantUndo: cgroupUndo},
		{fail: "a.prestart", wantErr: "a: fake a.prestart failed", wantUndo: cgroupUndo},
		{fail: "b.prestart", wantErr: "b: fake b.prestart failed", wantUndo: append([]string{"a.undo-prestart"}, cgroupUndo...)},
		{fail: "runtime.spawn", wantErr: "fake runtime.spawn failed", wantUndo: append([]string{"b.undo-prestart", "a.undo-prestart"}, cgroupUndo...)},
		{fail: "cgroup.add-proc", wantErr: "fake cgroup.add-proc failed", wantUndo: append([]string{"b.undo-prestart", "a.undo-prestart"}, cgroupUndo...)},
		{fail: "b.start", wantErr: "b: fake b.start failed", wantUndo: append([]string{"a.undo-start", "b.undo-prestart", "a.undo-prestart"}, cgroupUndo...)},
	} {
		t.Run(c.fail, func(t *testing.T) {
			tz := newTestZones(t)
			tz.create("z")
			tz.log.failOn(c.fail)
			tz.log.take()
			_, err := tz.m.StartZone(ctx, "z")
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.HasPrefix(err.Error(), `start zone "z": `) {
				t.Fatalf("error %v, want one saying %q", err, c.wantErr)
			}
			calls := tz.log.take()
			wantCalls(t, "undo", calls[indexOf(calls, c.fail)+1:], c.wantUndo)
			rec := tz.record("z")
			if rec.State != api.StateStopped || rec.InitPID != 0 || !strings.Contains(rec.LastExit, "start failed: ") || !strings.Contains(rec.LastExit, c.fail) {
				t.Errorf("record state %s pid %d last exit %q", rec.State, rec.InitPID, rec.LastExit)
			}
			if tz.m.isRunning("z") || tz.cg.group("/zoned-test/z") != nil {
				t.Error("the start left the zone watched or its cgroup")
			}
			// The zone starts once the fault is gone.
			tz.log.clearFailures()
			if _, err := tz.m.StartZone(ctx, "z"); err != nil {
				t.Fatalf("start after the undo: %v", err)
			}
		})
	}
}

// TestStartZoneUndoAfterSpawn: a failure after the init runs kills it.
func TestStartZoneUndoAfterSpawn(t *testing.T) {
	tz := newTestZones(t)
	tz.create("z")
	tz.parts[0].onStart = func(rec *store.ZoneRecord) { // b
		if err := tz.m.store.DeleteZone(rec.Name); err != nil {
			t.Error(err)
		}
	}
	tz.log.take()
	if _, err := tz.m.StartZone(ctx, "z"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("error %v, want the save's not found", err)
	}
	calls := tz.log.take()
	wantCalls(t, "undo", calls[indexOf(calls, "b.start")+1:], []string{
		"init.kill", "b.undo-start", "a.undo-start", "b.undo-prestart", "a.undo-prestart", "cgroup.kill", "cgroup.delete",
	})
	if i := tz.rt.last(); i == nil || !i.exited() {
		t.Error("the init is left running")
	}
}

func TestStopZone(t *testing.T) {
	for _, c := range []struct {
		name       string
		req        api.StopRequest
		deaf       bool
		wantSignal bool
		wantExit   string
	}{
		{name: "graceful", wantSignal: true, wantExit: "poweroff"},
		{name: "forced", req: api.StopRequest{Force: true}, wantExit: "killed (forced stop)"},
		{name: "timeout", req: api.StopRequest{TimeoutSeconds: 1}, deaf: true, wantSignal: true, wantExit: "killed after the 1s stop timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tz := newTestZones(t)
			tz.rt.deaf = c.deaf
			z := tz.start("z")
			tz.log.take()
			stopped, err := tz.m.StopZone(ctx, "z", c.req)
			if err != nil {
				t.Fatal(err)
			}
			if stopped.State != api.StateStopped || stopped.LastExit != c.wantExit || stopped.InitPID != 0 {
				t.Errorf("stopped zone: state %s last exit %q pid %d", stopped.State, stopped.LastExit, stopped.InitPID)
			}
			calls := tz.log.take()
			if got := indexOf(calls, "runtime.signal SIGUSR2") >= 0; got != c.wantSignal {
				t.Errorf("init got its stop signal (the template's): %v, want %v: %v", got, c.wantSignal, calls)
			}
			// Parts learn of the stop in reverse order, after the cgroup
			// is gone.
			wantCalls(t, "after the exit", calls[len(calls)-4:], []string{"cgroup.kill", "cgroup.delete", "b.stopped", "a.stopped"})
			if !tz.rt.init(z.InitPID).exited() || tz.m.isRunning("z") {
				t.Error("the init outlived the stop")
			}
			if _, err := tz.m.StopZone(ctx, "z", c.req); !errors.Is(err, errdefs.ErrConflict) {
				t.Errorf("stop of a stopped zone: %v, want conflict", err)
			}
		})
	}
}

func TestStopZoneRefusesNegativeTimeout(t *testing.T) {
	tz := newTestZones(t)
	if _, err := tz.m.StopZone(ctx, "z", api.StopRequest{TimeoutSeconds: -1}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("error %v, want invalid", err)
	}
}

func TestRestartZone(t *testing.T) {
	tz := newTestZones(t)
	z := tz.start("z")
	again, err := tz.m.RestartZone(ctx, "z", api.StopRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if again.State != api.StateRunning || again.InitPID == z.InitPID {
		t.Errorf("restarted zone: state %s pid %d (was %d)", again.State, again.InitPID, z.InitPID)
	}
	if !tz.rt.init(z.InitPID).exited() {
		t.Error("the first init still runs")
	}
	// A stopped zone is only started.
	if _, err := tz.m.StopZone(ctx, "z", api.StopRequest{Force: true}); err != nil {
		t.Fatal(err)
	}
	if z, err := tz.m.RestartZone(ctx, "z", api.StopRequest{}); err != nil || z.State != api.StateRunning {
		t.Errorf("restart of a stopped zone: %v, %+v", err, z)
	}
}

// waitState waits until the zone's record is in state.
func (tz *testZones) waitState(name string, state api.ZoneState) *store.ZoneRecord {
	tz.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec := tz.record(name)
		if rec != nil && rec.State == state && !(state == api.StateStopped && tz.m.isRunning(name)) {
			return rec
		}
		if time.Now().After(deadline) {
			tz.t.Fatalf("zone %s is %+v, not %s", name, rec, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestZoneExitsOnItsOwn: the watcher frees what a zone that ended held and
// says how it ended; a reboot starts it again.
func TestZoneExitsOnItsOwn(t *testing.T) {
	tz := newTestZones(t)
	z := tz.start("z")
	tz.rt.init(z.InitPID).exit(namespaces.ExitStatus{Code: 3})
	rec := tz.waitState("z", api.StateStopped)
	if rec.LastExit != "init exited with code 3" {
		t.Errorf("last exit %q", rec.LastExit)
	}
	if tz.cg.group("/zoned-test/z") != nil {
		t.Error("the zone's cgroup is left")
	}

	z = tz.startExisting("z")
	tz.log.take()
	tz.rt.init(z.InitPID).exit(namespaces.ExitStatus{Signal: syscall.SIGHUP})
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec = tz.record("z")
		if rec.State == api.StateRunning && rec.InitPID != z.InitPID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zone did not come back after its reboot: %+v", rec)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if rec.LastExit != "" {
		t.Errorf("last exit after the restart %q", rec.LastExit)
	}

	for sig, want := range map[syscall.Signal]string{syscall.SIGINT: "poweroff", syscall.SIGKILL: "killed by SIGKILL"} {
		pid := tz.record("z").InitPID
		tz.rt.init(pid).exit(namespaces.ExitStatus{Signal: sig})
		if rec := tz.waitState("z", api.StateStopped); rec.LastExit != want {
			t.Errorf("exit by %v: last exit %q, want %q", sig, rec.LastExit, want)
		}
		tz.startExisting("z")
	}
}

// startExisting starts an existing zone.
func (tz *testZones) startExisting(name string) *api.Zone {
	tz.t.Helper()
	z, err := tz.m.StartZone(ctx, name)
	if err != nil {
		tz.t.Fatal(err)
	}
	return z
}

func TestDestroyZone(t *testing.T) {
	tz := newTestZones(t)
	tz.start("run")
	tz.create("idle")

	if err := tz.m.DestroyZone(ctx, "run", false); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("destroy of a running zone: %v, want conflict", err)
	}
	if tz.record("run").State != api.StateRunning {
		t.Fatal("a refused destroy changed the zone")
	}
	tz.log.take()
	if err := tz.m.DestroyZone(ctx, "run", true); err != nil {
		t.Fatal(err)
	}
	calls := tz.log.take()
	wantCalls(t, "forced destroy", only(calls, "cgroup.kill", "a.", "b.", "root."), []string{
		"cgroup.kill", "cgroup.kill", "b.stopped", "a.stopped", "b.destroy", "a.destroy", "root.delete",
	})
	if tz.record("run") != nil || tz.roots.has("run") || tz.m.isRunning("run") {
		t.Error("the destroyed zone is left")
	}

	if err := tz.m.DestroyZone(ctx, "idle", false); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "destroy", tz.log.take(), []string{"b.destroy", "a.destroy", "root.delete"})
	if tz.record("idle") != nil || tz.roots.has("idle") {
		t.Error("the destroyed zone is left")
	}
	if err := tz.m.DestroyZone(ctx, "idle", false); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("destroy of a destroyed zone: %v, want not found", err)
	}
}

// TestDestroyZoneAfterHalfDestroy: a destroy that failed half way leaves
// the zone destroying, and a second destroy finishes it.
func TestDestroyZoneAfterHalfDestroy(t *testing.T) {
	tz := newTestZones(t)
	tz.create("z")
	tz.log.failOn("a.destroy")
	tz.log.take()
	err := tz.m.DestroyZone(ctx, "z", false)
	if err == nil || !strings.Contains(err.Error(), `destroy zone "z": a: fake a.destroy failed`) {
		t.Fatalf("error %v", err)
	}
	wantCalls(t, "half destroy", tz.log.take(), []string{"b.destroy", "a.destroy"})
	if rec := tz.record("z"); rec == nil || rec.State != api.StateDestroying || !tz.roots.has("z") {
		t.Fatalf("after a failed destroy: record %+v", rec)
	}
	if _, err := tz.m.StartZone(ctx, "z"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("start of a zone being destroyed: %v, want conflict", err)
	}
	tz.log.clearFailures()
	if err := tz.m.DestroyZone(ctx, "z", false); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "second destroy", tz.log.take(), []string{"b.destroy", "a.destroy", "root.delete"})
	if tz.record("z") != nil || tz.roots.has("z") {
		t.Error("the zone is left")
	}
}

// setState puts a zone's record in state, as a daemon that died in the
// middle of a step leaves it.
func (tz *testZones) setState(name string, state api.ZoneState) {
	tz.t.Helper()
	if _, err := tz.m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
		z.State = state
		return nil
	}); err != nil {
		tz.t.Fatal(err)
	}
}

// TestReconcile: a daemon that starts after one died half way undoes
// interrupted creates, finishes interrupted destroys, adopts zones whose
// init still runs and marks the others stopped; then each part rebuilds
// its state from the records as they stand.
func TestReconcile(t *testing.T) {
	tz := newTestZones(t)
	tz.create("creating")
	tz.create("destroying")
	tz.create("idle")
	alive := tz.start("alive")
	starting := tz.start("starting")
	stopping := tz.start("stopping")
	dead := tz.start("dead")
	tz.setState("creating", api.StateCreating)
	tz.setState("destroying", api.StateDestroying)
	tz.setState("starting", api.StateStarting)
	tz.setState("stopping", api.StateStopping)
	if err := tz.m.store.CreateTemplate(&store.TemplateRecord{Name: "half", State: "building"}); err != nil {
		t.Fatal(err)
	}
	tz.crash()
	// The zones' inits outlive the daemon, but one dies meanwhile. The
	// dead daemon's watcher frees its cgroup (all it can do without its
	// store): wait for that, so its calls do not mix with the new one's.
	tz.rt.init(dead.InitPID).exit(namespaces.ExitStatus{Code: 0})
	for deadline := time.Now().Add(5 * time.Second); tz.cg.group("/zoned-test/dead") != nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the dead zone's cgroup is never freed")
		}
	}
	tz.log.take()

	tz.open()
	calls := tz.log.take()
	for _, want := range [][]string{
		{"root.cleanup", "root.delete-template half"},
		{"b.destroy", "a.destroy", "root.delete"},
		{"b.stopped", "a.stopped"},
		{"a.reconcile", "b.reconcile"},
	} {
		if i := indexOf(calls, want[0]); i < 0 || len(calls) < i+len(want) || !equalStrings(calls[i:i+len(want)], want) {
			t.Errorf("reconcile calls %q do not have %q in a row", calls, want)
		}
	}
	if n := len(only(calls, "root.delete")); n != 3 {
		t.Errorf("%d roots deleted, want 2 (creating, destroying) and a template", n)
	}
	for _, name := range []string{"creating", "destroying"} {
		if tz.record(name) != nil || tz.roots.has(name) {
			t.Errorf("zone %s is left", name)
		}
	}
	if _, err := tz.m.store.GetTemplate("half"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("half-built template: %v", err)
	}
	for _, z := range []*api.Zone{alive, starting, stopping} {
		rec := tz.record(z.Name)
		if rec.State != api.StateRunning || rec.InitPID != z.InitPID || !tz.m.isRunning(z.Name) {
			t.Errorf("zone %s not adopted: %+v", z.Name, rec)
		}
	}
	if rec := tz.record("dead"); rec.State != api.StateStopped || rec.LastExit != "died while zoned was not running" {
		t.Errorf("dead zone %+v", rec)
	}
	if got := tz.parts[1].reconciled; !equalStrings(got, []string{"alive=running", "dead=stopped", "idle=stopped", "starting=running", "stopping=running"}) {
		t.Errorf("part a reconciled %v", got)
	}

	// An adopted zone is stopped as any other, and its end is seen.
	z, err := tz.m.StopZone(ctx, "alive", api.StopRequest{})
	if err != nil || z.State != api.StateStopped || z.LastExit != "poweroff" {
		t.Errorf("stop of an adopted zone: %v %+v", err, z)
	}
	tz.rt.init(starting.InitPID).known = false
	tz.rt.init(starting.InitPID).exit(namespaces.ExitStatus{})
	if rec := tz.waitState("starting", api.StateStopped); rec.LastExit != "exited while adopted after a daemon restart (status unknown)" {
		t.Errorf("adopted zone's exit: %q", rec.LastExit)
	}
}

// TestReconcilePartFails: the daemon refuses to start on a part's error.
func TestReconcilePartFails(t *testing.T) {
	tz := newTestZones(t)
	tz.crash()
	tz.log.failOn("b.reconcile")
	_, err := newWith(tz.cfg, tz.deps())
	if err == nil || !strings.Contains(err.Error(), "reconcile: b: fake b.reconcile failed") {
		t.Fatalf("error %v", err)
	}
	// The data directory is free again for the next try.
	tz.log.clearFailures()
	tz.open()
}

func TestUpdateZone(t *testing.T) {
	tz := newTestZones(t)
	tz.start("run")
	tz.create("idle")
	mem := int64(256 << 20)
	tz.log.take()
	z, err := tz.m.UpdateZone(ctx, "run", api.ZonePatch{Resources: &api.ResourcesPatch{MemoryBytes: &mem}})
	if err != nil {
		t.Fatal(err)
	}
	if z.Resources.MemoryBytes != mem || z.Usage == nil || z.Usage.MemoryLimitBytes != uint64(mem) {
		t.Errorf("zone %+v usage %+v", z.Resources, z.Usage)
	}
	wantCalls(t, "update of a running zone", tz.log.take(), []string{"cgroup.update"})
	if rec := tz.record("run"); *rec.Spec.Linux.Resources.Memory.Limit != mem {
		t.Error("the spec's limit is not the new one")
	}

	// The kernel refuses: the store keeps the old limits.
	tz.log.failOn("cgroup.update")
	big := 2 * mem
	if _, err := tz.m.UpdateZone(ctx, "run", api.ZonePatch{Resources: &api.ResourcesPatch{MemoryBytes: &big}}); err == nil || !strings.Contains(err.Error(), "apply limits") {
		t.Errorf("error %v", err)
	}
	if rec := tz.record("run"); rec.Resources.MemoryBytes != mem {
		t.Errorf("stored memory %d after a refused update", rec.Resources.MemoryBytes)
	}
	tz.log.clearFailures()

	// A stopped zone's limits are only stored.
	tz.log.take()
	auto, prio := true, 5
	z, err = tz.m.UpdateZone(ctx, "idle", api.ZonePatch{Resources: &api.ResourcesPatch{MemoryBytes: &mem}, Autostart: &auto, AutostartPriority: &prio, Labels: map[string]string{"env": "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, "update of a stopped zone", tz.log.take(), nil)
	if !z.Autostart || z.AutostartPriority != 5 || z.Labels["env"] != "prod" || z.Resources.MemoryBytes != mem {
		t.Errorf("zone %+v", z)
	}

	// If-Match: a stale revision is refused.
	if _, err := tz.m.UpdateZoneIfMatch(ctx, "idle", z.Revision-1, api.ZonePatch{Autostart: &auto}); !errors.Is(err, errdefs.ErrPrecondition) {
		t.Errorf("stale revision: %v", err)
	}
	if _, err := tz.m.UpdateZoneIfMatch(ctx, "idle", z.Revision, api.ZonePatch{Autostart: &auto}); err != nil {
		t.Errorf("current revision: %v", err)
	}
	for _, p := range []api.ZonePatch{
		{Labels: map[string]string{"-bad": "x"}},
		{AutostartPriority: ptr(-5000)},
		{Resources: &api.ResourcesPatch{CPULimitPercent: ptr(int64(-1))}},
	} {
		if _, err := tz.m.UpdateZone(ctx, "idle", p); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("patch %+v: %v, want invalid", p, err)
		}
	}
	if _, err := tz.m.UpdateZone(ctx, "nosuch", api.ZonePatch{}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("update of a missing zone: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestListAndGetZones(t *testing.T) {
	tz := newTestZones(t)
	tz.start("b-run")
	if _, err := tz.m.CreateZone(ctx, api.CreateZoneRequest{Name: "a-idle", Template: testTemplate, Privileged: true, Labels: map[string]string{"env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	tz.create("c-idle")

	all, err := tz.m.ListZones(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("list: %v %d zones", err, len(all))
	}
	page, next, err := tz.m.ListZonesPage(ctx, api.ZoneListOptions{Limit: 2})
	if err != nil || len(page) != 2 || page[0].Name != "a-idle" || next != "b-run" {
		t.Errorf("first page: %v %v next %q", err, names(page), next)
	}
	page, next, err = tz.m.ListZonesPage(ctx, api.ZoneListOptions{After: next})
	if err != nil || len(page) != 1 || page[0].Name != "c-idle" || next != "" {
		t.Errorf("second page: %v %v next %q", err, names(page), next)
	}
	page, _, _ = tz.m.ListZonesPage(ctx, api.ZoneListOptions{State: api.StateRunning})
	if len(page) != 1 || page[0].Name != "b-run" || page[0].Usage == nil {
		t.Errorf("running: %v", names(page))
	}
	page, _, _ = tz.m.ListZonesPage(ctx, api.ZoneListOptions{Labels: map[string]string{"env": "prod"}, Template: testTemplate})
	if len(page) != 1 || page[0].Name != "a-idle" {
		t.Errorf("labelled: %v", names(page))
	}
	for _, o := range []api.ZoneListOptions{{State: "sleeping"}, {Template: "../x"}, {After: "-x"}, {Limit: -1}, {Labels: map[string]string{"": "x"}}} {
		if _, _, err := tz.m.ListZonesPage(ctx, o); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("options %+v: %v, want invalid", o, err)
		}
	}

	z, err := tz.m.GetZone(ctx, "a-idle")
	if err != nil || z.Spec == nil || z.Labels["env"] != "prod" || z.Pool != "default" {
		t.Errorf("get: %v %+v", err, z)
	}
	if _, err := tz.m.GetZone(ctx, "nosuch"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("get of a missing zone: %v", err)
	}
	if _, err := tz.m.GetZone(ctx, "-bad"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("get of a bad name: %v", err)
	}
	info, err := tz.m.Info(ctx)
	if err != nil || info.Zones != 3 || info.Running != 1 || info.DataDir != tz.cfg.DataDir {
		t.Errorf("info: %v %+v", err, info)
	}
	if err := tz.m.Healthy(ctx); err != nil {
		t.Error(err)
	}
}

func names(zs []api.Zone) []string {
	var out []string
	for _, z := range zs {
		out = append(out, z.Name)
	}
	return out
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

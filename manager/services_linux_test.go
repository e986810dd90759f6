package manager

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/store"
)

// Tests of what the manager serves around running zones (console, stats,
// autostart, host shutdown, recovery), against the fakes.

func TestConsole(t *testing.T) {
	tz := newTestZones(t)
	z := tz.start("z")
	s, err := tz.m.AttachConsole(ctx, "z", 80, 24)
	if err != nil {
		t.Fatal(err)
	}
	init := tz.rt.init(z.InitPID)
	if _, err := init.console.Write([]byte("hello from the guest\n")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	deadline := time.After(5 * time.Second)
	for !bytes.Contains(got, []byte("hello from the guest")) {
		select {
		case b, ok := <-s.Output:
			if !ok {
				t.Fatalf("console closed after %q", got)
			}
			got = append(got, b...)
		case <-deadline:
			t.Fatalf("console output %q", got)
		}
	}
	if _, err := s.Write([]byte("typed\n")); err != nil {
		t.Error(err)
	}
	if s.Dropped() {
		t.Error("a client that keeps up was dropped")
	}
	s.Close()

	rc, err := tz.m.ConsoleLog(ctx, "z")
	if err != nil {
		t.Fatal(err)
	}
	log, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Contains(log, []byte("hello from the guest")) {
		t.Errorf("console log %q", log)
	}
	if _, err := tz.m.ConsoleLog(ctx, "nosuch"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("log of a missing zone: %v", err)
	}

	// A zone the daemon adopted has no console to attach to.
	tz.crash()
	tz.open()
	if _, err := tz.m.AttachConsole(ctx, "z", 0, 0); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("attach to an adopted zone: %v, want unavailable", err)
	}
	if _, err := tz.m.StopZone(ctx, "z", api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tz.m.AttachConsole(ctx, "z", 0, 0); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("attach to a stopped zone: %v, want conflict", err)
	}
	if _, err := tz.m.AttachConsole(ctx, "nosuch", 0, 0); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("attach to a missing zone: %v", err)
	}
}

func TestZoneStats(t *testing.T) {
	tz := newTestZones(t)
	tz.start("b")
	tz.start("a")
	tz.create("idle")
	st, err := tz.m.ZoneStats(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "a" || st.State != api.StateRunning || st.MemoryBytes != 1<<20 || st.Processes != 1 || st.CPUNanos != 5e9 {
		t.Errorf("stats %+v", st)
	}
	if _, err := tz.m.ZoneStats(ctx, "idle"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("stats of a stopped zone: %v", err)
	}
	if _, err := tz.m.ZoneStats(ctx, "nosuch"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("stats of a missing zone: %v", err)
	}
	all, err := tz.m.AllStats(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "a" || all[1].Name != "b" {
		t.Errorf("all stats: %v %+v", err, all)
	}
}

// TestAutostart: after a host boot, the autostart zones start, highest
// priority first; a daemon restart in the same boot starts nothing.
func TestAutostart(t *testing.T) {
	bootID, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Skip("no boot id:", err)
	}
	tz := newTestZones(t)
	for _, c := range []struct {
		name string
		auto bool
		prio int
	}{{"low", true, 1}, {"high", true, 10}, {"manual", false, 0}} {
		if _, err := tz.m.CreateZone(ctx, api.CreateZoneRequest{Name: c.name, Template: testTemplate, Privileged: true, Autostart: c.auto, AutostartPriority: c.prio}); err != nil {
			t.Fatal(err)
		}
	}
	marker := filepath.Join(tz.cfg.DataDir, "boot_id")
	if err := os.WriteFile(marker, []byte("an earlier boot\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tz.crash()
	tz.open()
	<-tz.m.autostartDone
	var order []string
	for _, o := range tz.rt.spawned {
		order = append(order, o.Config.Zone)
	}
	wantCalls(t, "autostart order", order, []string{"high", "low"})
	if tz.record("manual").State != api.StateStopped {
		t.Error("a zone without autostart started")
	}
	if got, _ := os.ReadFile(marker); !bytes.Equal(got, bootID) {
		t.Errorf("boot marker %q after autostart", got)
	}

	// Host shutdown stops them, lowest priority first.
	res, err := tz.m.ShutdownZones(ctx, api.HostShutdownRequest{TimeoutSeconds: 5})
	if err != nil {
		t.Fatal(err)
	}
	var stopped []string
	for _, z := range res.Zones {
		if z.LastExit != "poweroff" || z.Error != "" {
			t.Errorf("zone %s: %+v", z.Name, z)
		}
		stopped = append(stopped, z.Name)
	}
	wantCalls(t, "shutdown order", stopped, []string{"low", "high"})
	if _, err := tz.m.ShutdownZones(ctx, api.HostShutdownRequest{TimeoutSeconds: -1}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("negative timeout: %v", err)
	}

	// A restart in the same boot starts nothing.
	tz.close()
	tz.rt.spawned = nil
	tz.open()
	<-tz.m.autostartDone
	if len(tz.rt.spawned) != 0 {
		t.Errorf("a daemon restart autostarted %d zones", len(tz.rt.spawned))
	}
}

// TestAutostartGivesUp: a zone that fails every attempt is left stopped
// with the reason.
func TestAutostartGivesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the backoff")
	}
	tz := newTestZones(t)
	if _, err := tz.m.CreateZone(ctx, api.CreateZoneRequest{Name: "z", Template: testTemplate, Privileged: true, Autostart: true}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tz.cfg.DataDir, "boot_id"), []byte("an earlier boot\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tz.crash()
	tz.log.failOn("runtime.spawn")
	tz.open()
	<-tz.m.autostartDone
	if n := len(only(tz.log.take(), "runtime.spawn")); n != autostartAttempts {
		t.Errorf("%d attempts, want %d", n, autostartAttempts)
	}
	if rec := tz.record("z"); rec.State != api.StateStopped || !strings.HasPrefix(rec.LastExit, "autostart failed: ") {
		t.Errorf("record %+v", rec)
	}
}

// TestRecover rebuilds the records of zones from their directories when
// the store lost them.
func TestRecover(t *testing.T) {
	tz := newTestZones(t)
	tz.create("kept")
	tz.close()
	dir := tz.cfg.DataDir
	// Two zones the store does not know: one zoned made (its template and
	// ID files, its layer), one directory that is not a zone's.
	write := func(path, data string) { writeFile(t, path, data) }
	write(filepath.Join(dir, "zones", "lost", "template"), testTemplate+"\n")
	write(filepath.Join(dir, "zones", "lost", "idmap"), "2097152\n")
	write(filepath.Join(dir, "zones", "lost", "upper", "etc", "hostname"), "lost-host\n")
	write(filepath.Join(dir, "zones", "stray", "notes"), "x")

	var out bytes.Buffer
	if err := Recover(tz.cfg, RecoverOptions{Out: &out}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "zoned.db"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.GetZone("lost")
	if err != nil {
		t.Fatalf("lost zone not rebuilt: %v\n%s", err, out.String())
	}
	if rec.Template != testTemplate || rec.Hostname != "lost-host" || rec.IDMapBase != 2097152 || rec.IDMapSize != IDMapSize || rec.State != api.StateStopped || rec.Spec == nil {
		t.Errorf("rebuilt record %+v", rec)
	}
	if _, err := st.GetZone("stray"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("a stray directory got a record: %v", err)
	}
	for _, want := range []string{"zone lost: record rebuilt", "zone stray: NOT rebuilt", "1 zone records rebuilt"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report does not say %q:\n%s", want, out.String())
		}
	}

	st.Close()

	// From the backup the daemon made when it started, then rebuilt
	// again from the directories.
	out.Reset()
	if err := Recover(tz.cfg, RecoverOptions{FromBackup: true, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "from backup") || !strings.Contains(out.String(), "zone lost: record rebuilt") {
		t.Errorf("report of a recovery from backup:\n%s", out.String())
	}
	// A backup that is not a store is refused.
	bad := filepath.Join(t.TempDir(), "bad.db")
	write(bad, "not a store")
	if err := Recover(tz.cfg, RecoverOptions{FromBackup: true, Backup: bad}); !errors.Is(err, store.ErrDamaged) {
		t.Errorf("recover from a damaged backup: %v", err)
	}
}

func TestExec(t *testing.T) {
	tz := newTestZones(t)
	tz.start("z")
	tz.log.take()
	s, err := tz.m.Exec(ctx, "z", api.ExecRequest{Command: []string{"echo", "hi"}, Cwd: "/tmp"})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(s.Stdout)
	if string(out) != "ran echo hi in /tmp\n" {
		t.Errorf("output %q", out)
	}
	if code, err := s.Wait(); err != nil || code != 2 {
		t.Errorf("wait: %d %v", code, err)
	}
	if err := s.Signal(9); err != nil {
		t.Error(err)
	}
	if err := s.Resize(80, 24); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("resize without a terminal: %v", err)
	}
	s.Close()
	wantCalls(t, "exec", tz.log.take(), []string{"runtime.exec", "cgroup.join", "cgroup.add-proc", "exec.signal SIGKILL"})

	// With a terminal, output comes on the terminal.
	s, err = tz.m.Exec(ctx, "z", api.ExecRequest{Command: []string{"sh"}, TTY: true, Width: 80, Height: 24})
	if err != nil {
		t.Fatal(err)
	}
	if s.Stderr != nil {
		t.Error("a terminal session has a separate stderr")
	}
	buf := make([]byte, 64)
	n, _ := s.Stdout.Read(buf)
	if !strings.Contains(string(buf[:n]), "ran sh in /") {
		t.Errorf("terminal output %q", buf[:n])
	}
	if err := s.Resize(100, 30); err != nil {
		t.Error(err)
	}
	s.Close()

	tz.create("idle")
	for _, c := range []struct {
		zone string
		req  api.ExecRequest
		want error
	}{
		{"z", api.ExecRequest{}, errdefs.ErrInvalid},
		{"idle", api.ExecRequest{Command: []string{"true"}}, errdefs.ErrConflict},
		{"nosuch", api.ExecRequest{Command: []string{"true"}}, errdefs.ErrNotFound},
		{"-bad", api.ExecRequest{Command: []string{"true"}}, errdefs.ErrInvalid},
	} {
		if _, err := tz.m.Exec(ctx, c.zone, c.req); !errors.Is(err, c.want) {
			t.Errorf("exec %+v in %s: %v, want %v", c.req, c.zone, err, c.want)
		}
	}
	tz.log.failOn("runtime.exec")
	if _, err := tz.m.Exec(ctx, "z", api.ExecRequest{Command: []string{"true"}}); err == nil || !strings.HasPrefix(err.Error(), `exec in zone "z": fake runtime.exec failed`) {
		t.Errorf("failed exec: %v", err)
	}
}

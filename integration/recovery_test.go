//go:build linux

package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zoned-project/zoned/api"
)

// zonedRun runs the zoned binary with the daemon's data dir, socket and
// cgroup parent before args (a subcommand goes first) and returns its
// output and exit code; a daemon that is still up after a minute is
// killed and fails the test. It is for runs that must end: refusals and
// `zoned recover`.
func (d *daemon) zonedRun(sub string, args ...string) (string, int) {
	d.t.Helper()
	var full []string
	if sub != "" {
		full = append(full, sub)
	}
	full = append(full, "-data-dir", d.dataDir, "-cgroup-parent", d.cgroupParent)
	if sub == "" {
		full = append(full, "-socket", d.socket)
	}
	full = append(full, args...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, zonedBin, full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err := cmd.Run()
	if ctx.Err() != nil {
		d.t.Fatalf("zoned %v did not end within a minute; output:\n%s", full, out.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatal(err)
	}
	return out.String(), code
}

// mustRefuse runs the daemon, which must exit 1 (an error, not a panic)
// saying each of wants.
func (d *daemon) mustRefuse(wants ...string) string {
	d.t.Helper()
	out, code := d.zonedRun("")
	d.t.Logf("zoned refused:\n%s", out)
	if code != 1 {
		d.t.Fatalf("zoned exited %d, want 1 (a refusal); output:\n%s", code, out)
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			d.t.Errorf("refusal does not say %q; output:\n%s", w, out)
		}
	}
	return out
}

// recoverIfFailed makes a failed test run `zoned recover` before the
// daemon's cleanup, so that zones whose records the test took away are
// known again and destroyed rather than leaked.
func (d *daemon) recoverIfFailed() {
	d.t.Cleanup(func() {
		if !d.t.Failed() {
			return
		}
		d.stop()
		out, code := d.zonedRun("recover")
		d.t.Logf("cleanup: zoned recover exited %d:\n%s", code, out)
	})
}

func (d *daemon) storePath() string { return filepath.Join(d.dataDir, "zoned.db") }

// editStoreRaw changes the stopped daemon's store with bbolt directly.
func (d *daemon) editStoreRaw(fn func(root *bolt.Bucket) error) {
	d.t.Helper()
	db, err := bolt.Open(d.storePath(), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		d.t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket([]byte("v1"))) }); err != nil {
		d.t.Fatal(err)
	}
}

func TestEmptyStoreBesideZonesRefusedThenRecovered(t *testing.T) {
	d := startDaemon(t)
	d.recoverIfFailed()
	z := d.createStarted("rec1", api.Resources{})
	d.stop()
	if err := os.Truncate(d.storePath(), 0); err != nil {
		t.Fatal(err)
	}
	d.mustRefuse(d.storePath(), "rec1 (running)", "zoned recover -data-dir "+d.dataDir, "docs/recovery.md")
	if !processAlive(z.InitPID) {
		t.Fatalf("the refused daemon touched running zone rec1 (init %d gone)", z.InitPID)
	}
	// A refusal leaves the file as it was, so it is refused again.
	d.mustRefuse("rec1 (running)")

	out, code := d.zonedRun("recover")
	t.Logf("zoned recover:\n%s", out)
	if code != 0 {
		t.Fatalf("zoned recover exited %d:\n%s", code, out)
	}
	for _, w := range []string{"zone rec1: record rebuilt", "init pid " + strconv.Itoa(z.InitPID), "NOT recovered: resource limits"} {
		if !strings.Contains(out, w) {
			t.Errorf("recover does not say %q:\n%s", w, out)
		}
	}
	d.start()
	got, err := d.c.GetZone(ctxT(t), "rec1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != api.StateRunning || got.InitPID != z.InitPID {
		t.Fatalf("recovered zone is %s with init %d, want running with %d (adopted)", got.State, got.InitPID, z.InitPID)
	}
	if got.IDMap == nil || z.IDMap == nil || *got.IDMap != *z.IDMap {
		t.Fatalf("recovered zone's ID map %+v, want %+v", got.IDMap, z.IDMap)
	}
	if s := d.mustExec("rec1", "echo", "alive"); strings.TrimSpace(s) != "alive" {
		t.Errorf("exec in the adopted zone printed %q", s)
	}
	// Its host IDs are reserved again: a new zone gets other ones.
	z2 := d.createStarted("rec2", api.Resources{})
	if z2.IDMap == nil || z2.IDMap.HostID == z.IDMap.HostID {
		t.Fatalf("new zone got ID map %+v, the recovered zone has %+v", z2.IDMap, z.IDMap)
	}
}

func TestEmptyStoreInFreshDataDirStarts(t *testing.T) {
	dir, err := os.MkdirTemp("", "zoned-it-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "zoned.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, inDataDir(dir))
	d.createStarted("fresh1", api.Resources{})
}

func TestTruncatedStoreRefusedThenRestoredFromBackup(t *testing.T) {
	d := startDaemon(t)
	d.recoverIfFailed()
	labels := map[string]string{"customer": "c42"}
	if _, err := d.c.CreateZone(ctxT(t), api.CreateZoneRequest{Name: "trunc1", Template: "busybox", Labels: labels, Resources: api.Resources{PidsMax: 321}}); err != nil {
		t.Fatal(err)
	}
	// A restart backs the store up with the zone in it.
	d.stop()
	d.start()
	d.stop()
	fi, err := os.Stat(d.storePath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(d.storePath(), fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	d.mustRefuse(d.storePath(), "damaged", "-from-backup")

	out, code := d.zonedRun("recover", "-from-backup")
	if code != 0 {
		t.Fatalf("zoned recover -from-backup exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "restored "+d.storePath()) || !strings.Contains(out, ".damaged-") {
		t.Errorf("recover does not say what it restored and where the damaged store is:\n%s", out)
	}
	d.start()
	got, err := d.c.GetZone(ctxT(t), "trunc1")
	if err != nil {
		t.Fatal(err)
	}
	// The backup has the whole record: what a rebuild could not know.
	if got.Labels["customer"] != "c42" || got.Resources.PidsMax != 321 {
		t.Errorf("restored zone has labels %v and pids max %d, want the backup's", got.Labels, got.Resources.PidsMax)
	}
}

func TestBadRecordQuarantinedDaemonRuns(t *testing.T) {
	d := startDaemon(t)
	d.recoverIfFailed()
	d.createStarted("quar1", api.Resources{})
	bad := d.createStarted("quar2", api.Resources{})
	d.stop()
	// An operation record and a running zone's record that do not decode.
	d.editStoreRaw(func(root *bolt.Bucket) error {
		if err := root.Bucket([]byte("operations")).Put([]byte("op-garbage"), []byte("\x00\x01 not json")); err != nil {
			return err
		}
		return root.Bucket([]byte("zones")).Put([]byte("quar2"), []byte(`{"name": ["not", "a", "string"]}`))
	})
	d.start()
	zones, err := d.c.ListZones(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != 1 || zones[0].Name != "quar1" || zones[0].State != api.StateRunning {
		t.Fatalf("zones after quarantine: %+v, want quar1 running", zones)
	}
	for _, w := range []string{"moved to quarantine", "key=op-garbage", "key=quar2", "zone directory has no record"} {
		if !strings.Contains(d.logs(), w) {
			t.Errorf("log does not say %q", w)
		}
	}
	if !processAlive(bad.InitPID) {
		t.Fatal("the zone whose record was quarantined was killed")
	}
	// The quarantined zone's host IDs are not handed out again.
	z3 := d.createStarted("quar3", api.Resources{})
	if z3.IDMap == nil || z3.IDMap.HostID == bad.IDMap.HostID {
		t.Fatalf("new zone got ID map %+v, the quarantined zone has %+v", z3.IDMap, bad.IDMap)
	}
	// zoned recover rebuilds its record; the next daemon adopts it.
	d.stop()
	out, code := d.zonedRun("recover")
	if code != 0 || !strings.Contains(out, "zone quar2: record rebuilt") || !strings.Contains(out, "quarantined records") {
		t.Fatalf("zoned recover exited %d:\n%s", code, out)
	}
	d.start()
	got, err := d.c.GetZone(ctxT(t), "quar2")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != api.StateRunning || got.InitPID != bad.InitPID {
		t.Errorf("rebuilt zone is %s with init %d, want running with %d", got.State, got.InitPID, bad.InitPID)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	d := startDaemon(t)
	d.recoverIfFailed()
	d.createStarted("newer1", api.Resources{})
	d.stop()
	d.editStoreRaw(func(root *bolt.Bucket) error {
		return root.Put([]byte("version"), binary.BigEndian.AppendUint64(nil, 1<<20))
	})
	d.mustRefuse(d.storePath(), "newer than this zoned", "zoned recover")
	out, code := d.zonedRun("recover", "-from-backup")
	if code != 0 {
		t.Fatalf("zoned recover -from-backup exited %d:\n%s", code, out)
	}
	d.start()
	got, err := d.c.GetZone(ctxT(t), "newer1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != api.StateRunning {
		t.Errorf("zone after recovery is %s, want running (adopted)", got.State)
	}
}

func TestTwoDaemonsCannotShareDataDir(t *testing.T) {
	d := startDaemon(t)
	other := filepath.Join(t.TempDir(), "other.db")
	// Another store and socket, the same data directory: still refused,
	// naming the first daemon.
	d2 := &daemon{t: t, dataDir: d.dataDir, cgroupParent: d.cgroupParent, socket: filepath.Join(t.TempDir(), "other.sock")}
	out, code := d2.zonedRun("", "-store", other)
	if code != 1 || !strings.Contains(out, "in use by zoned pid "+strconv.Itoa(d.cmd.Process.Pid)) {
		t.Fatalf("second daemon exited %d, want a refusal naming pid %d:\n%s", code, d.cmd.Process.Pid, out)
	}
	out, code = d.zonedRun("recover")
	if code != 1 || !strings.Contains(out, "in use by zoned pid") {
		t.Fatalf("recover beside a running daemon exited %d, want a refusal:\n%s", code, out)
	}
	// Killed, its lock goes with it and a new daemon starts.
	d.kill9()
	d.start()
}

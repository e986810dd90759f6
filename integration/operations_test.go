//go:build linux

package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// stalledMirror makes a file: Debian mirror whose Release files are FIFOs
// nobody writes: a real debootstrap build from it starts, reports
// "Retrieving InRelease" and then waits until it is killed, so a test can
// interrupt a real build at a known point without a timing guess.
func stalledMirror(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mirror")
	dists := filepath.Join(dir, "dists", "bookworm")
	if err := os.MkdirAll(dists, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"InRelease", "Release"} {
		if err := syscall.Mkfifo(filepath.Join(dists, f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// buildPIDs lists the processes whose command line mentions s.
func buildPIDs(s string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmd), s) && processAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// startStalledBuild starts a debootstrap template build that hangs on its
// mirror, and returns its operation once debootstrap is running.
func startStalledBuild(t *testing.T, d *daemon, name string) (*api.Operation, string) {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/debootstrap"); err != nil {
		t.Skip("debootstrap is not installed (hack/setup.sh installs it)")
	}
	mirror := stalledMirror(t)
	ctx := ctxT(t)
	// A package of its own makes the cache key unique: no cached root may
	// make this build finish before the test interrupts it.
	op, err := d.c.CreateTemplate(ctx, api.CreateTemplateRequest{
		Name: name, From: "debootstrap", Suite: "bookworm", Mirror: "file://" + mirror,
		Include: []string{"zoned-it-" + randomSuffix()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if op.Status != api.OperationRunning {
		t.Fatalf("new operation: %+v", op)
	}
	waitFor(t, time.Minute, "debootstrap to wait on the mirror", func() bool {
		return len(buildPIDs(mirror)) > 0
	})
	return op, mirror
}

// checkBuildGone checks that an interrupted build left no template, no
// staging directory and no process.
func checkBuildGone(t *testing.T, d *daemon, name, mirror string) {
	t.Helper()
	if _, err := d.c.GetTemplate(ctxT(t), name); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("template %s after the build was undone: %v, want not found", name, err)
	}
	entries, _ := os.ReadDir(filepath.Join(d.dataDir, "templates"))
	for _, e := range entries {
		if strings.Contains(e.Name(), name) {
			t.Errorf("leak: %s left in templates/", e.Name())
		}
	}
	// SIGKILL is delivered at once but the process goes when the kernel
	// has torn it down: wait for that, bounded.
	waitFor(t, 30*time.Second, "the build's processes to be gone", func() bool { return len(buildPIDs(mirror)) == 0 })
}

// TestOperationRolledBackAfterKill9 kills the daemon in the middle of a
// real debootstrap build: the next daemon rolls the build back and the
// operation's record, kept in the store, says so.
func TestOperationRolledBackAfterKill9(t *testing.T) {
	d := startDaemon(t)
	name := "tk" + randomSuffix()
	op, mirror := startStalledBuild(t, d, name)

	d.kill9()
	d.start()

	ctx := ctxT(t)
	got, err := d.c.GetOperation(ctx, op.ID)
	if err != nil {
		t.Fatalf("operation after restart: %v", err)
	}
	if got.Status != api.OperationFailure || got.Outcome != api.OutcomeRolledBack || got.Err == nil {
		t.Errorf("operation after restart: %+v, want failure with outcome %q", got, api.OutcomeRolledBack)
	}
	if got.Kind != "template-create" || got.Target != name || !got.CreatedAt.Equal(op.CreatedAt) {
		t.Errorf("record lost its identity: %+v, started as %+v", got, op)
	}
	// Waiting on a finished operation answers at once.
	w, err := d.c.WaitOperation(ctx, op.ID, time.Minute)
	if err != nil || w.Status != api.OperationFailure {
		t.Errorf("wait after restart: %+v %v", w, err)
	}
	ops, err := d.c.ListOperations(ctx, api.OperationFailure)
	if err != nil || len(ops) != 1 || ops[0].ID != op.ID {
		t.Errorf("failed operations: %+v %v, want only %s", ops, err, op.ID)
	}
	checkBuildGone(t, d, name, mirror)

	// The name is free again: a build of it starts.
	if _, err := d.c.CreateTemplate(ctx, api.CreateTemplateRequest{Name: name, From: "builtin"}); err != nil {
		t.Fatalf("rebuild %s after rollback: %v", name, err)
	}
	stdout, _, code := d.zonectl("", "operation", "list")
	if code != 0 || !strings.Contains(stdout, api.OutcomeRolledBack) || !strings.Contains(stdout, op.ID) {
		t.Errorf("zonectl operation list (exit %d):\n%s", code, stdout)
	}
}

// TestOperationCancel cancels a running build: the build stops, undoes
// itself, and the operation ends as cancelled.
func TestOperationCancel(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	name := "tc" + randomSuffix()
	op, mirror := startStalledBuild(t, d, name)

	if _, err := d.c.CancelOperation(ctx, op.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	got, err := d.c.WaitOperation(ctx, op.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != api.OperationCancelled || got.Err == nil {
		t.Fatalf("after cancel: %+v, want cancelled", got)
	}
	checkBuildGone(t, d, name, mirror)
	if _, err := d.c.CancelOperation(ctx, op.ID); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("second cancel: %v, want conflict", err)
	}
	if _, err := d.c.CancelOperation(ctx, "no-such-op"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("cancel of an unknown operation: %v, want not found", err)
	}

	// A finished operation's record outlives a clean restart too.
	d.stop()
	d.start()
	again, err := d.c.GetOperation(ctx, op.ID)
	if err != nil || again.Status != api.OperationCancelled || again.Outcome != "" {
		t.Errorf("cancelled operation after restart: %+v %v", again, err)
	}
}

// TestOperationSurvivesCleanRestart: a finished build's record, with its
// progress, is there after the daemon restarts.
func TestOperationSurvivesCleanRestart(t *testing.T) {
	d := startDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := "ts" + randomSuffix()
	op, err := d.c.CreateTemplate(ctx, api.CreateTemplateRequest{Name: name, From: "builtin"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.c.DeleteTemplate(context.Background(), name) })
	if op, err = d.c.WaitOperation(ctx, op.ID, 4*time.Minute); err != nil || op.Status != api.OperationSuccess {
		t.Fatalf("build: %+v %v", op, err)
	}
	d.stop()
	d.start()
	got, err := d.c.GetOperation(ctx, op.ID)
	if err != nil || got.Status != api.OperationSuccess || got.Progress != 100 || got.Outcome != "" {
		t.Errorf("after restart: %+v %v", got, err)
	}
}

// TestOperationCancelledByCleanStop: a daemon stopped with SIGTERM during a
// build cancels it and lets it undo itself before exiting; the next daemon
// has nothing to roll back.
func TestOperationCancelledByCleanStop(t *testing.T) {
	d := startDaemon(t)
	name := "tt" + randomSuffix()
	op, mirror := startStalledBuild(t, d, name)
	d.stop()
	// Undone before the daemon exited, not by the next one.
	waitFor(t, 30*time.Second, "the build's processes to be gone", func() bool { return len(buildPIDs(mirror)) == 0 })
	d.start()
	got, err := d.c.GetOperation(ctxT(t), op.ID)
	if err != nil || got.Status != api.OperationCancelled || got.Outcome != "" {
		t.Fatalf("operation after a clean stop: %+v %v, want cancelled with no restart outcome", got, err)
	}
	checkBuildGone(t, d, name, mirror)
}

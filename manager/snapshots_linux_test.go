package manager

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/store"
)

// waitOp waits for an operation to end and returns it.
func (tz *testZones) waitOp(op *api.Operation) *api.Operation {
	tz.t.Helper()
	op, err := tz.m.WaitOperation(ctx, op.ID, 10*time.Second)
	if err != nil {
		tz.t.Fatal(err)
	}
	return op
}

func TestSnapshots(t *testing.T) {
	tz := newTestZones(t)
	tz.start("z")
	tz.log.take()
	op, err := tz.m.CreateSnapshot(ctx, "z", api.CreateSnapshotRequest{Name: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if op = tz.waitOp(op); op.Status != api.OperationSuccess {
		t.Fatalf("snapshot: %+v", op)
	}
	// A running zone is frozen around the copy.
	wantCalls(t, "snapshot of a running zone", tz.log.take(), []string{"cgroup.freeze", "snap.create s1", "cgroup.thaw"})
	snaps, err := tz.m.ListSnapshots(ctx, "z")
	if err != nil || len(snaps) != 1 || snaps[0].Name != "s1" || !snaps[0].Running || snaps[0].SizeBytes != 512 {
		t.Fatalf("snapshots: %v %+v", err, snaps)
	}
	for _, c := range []struct {
		zone, snap string
		want       error
	}{
		{"z", "s1", errdefs.ErrAlreadyExists},
		{"z", "-bad", errdefs.ErrInvalid},
		{"-bad", "s", errdefs.ErrInvalid},
		{"nosuch", "s", errdefs.ErrNotFound},
	} {
		if _, err := tz.m.CreateSnapshot(ctx, c.zone, api.CreateSnapshotRequest{Name: c.snap}); !errors.Is(err, c.want) {
			t.Errorf("snapshot %s@%s: %v, want %v", c.zone, c.snap, err, c.want)
		}
	}

	// A copy that fails leaves no record.
	tz.log.failOn("snap.create s2")
	op, _ = tz.m.CreateSnapshot(ctx, "z", api.CreateSnapshotRequest{Name: "s2"})
	if op = tz.waitOp(op); op.Status != api.OperationFailure || op.Err == nil || !strings.Contains(op.Err.Message, "fake snap.create s2 failed") {
		t.Errorf("failed snapshot: %+v", op)
	}
	if calls := tz.log.take(); calls[len(calls)-1] != "cgroup.thaw" {
		t.Errorf("the zone was not thawed after a failed snapshot: %v", calls)
	}
	if _, err := tz.m.store.GetSnapshot("z", "s2"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("failed snapshot's record: %v", err)
	}
	tz.log.clearFailures()

	// Restore wants the zone stopped.
	if _, err := tz.m.RestoreSnapshot(ctx, "z", "s1"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("restore of a running zone: %v", err)
	}
	if _, err := tz.m.StopZone(ctx, "z", api.StopRequest{Force: true}); err != nil {
		t.Fatal(err)
	}
	tz.log.take()
	op, err = tz.m.RestoreSnapshot(ctx, "z", "s1")
	if err != nil {
		t.Fatal(err)
	}
	if op = tz.waitOp(op); op.Status != api.OperationSuccess {
		t.Errorf("restore: %+v", op)
	}
	wantCalls(t, "restore", tz.log.take(), []string{"snap.restore s1"})
	if _, err := tz.m.RestoreSnapshot(ctx, "z", "nosuch"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("restore of a missing snapshot: %v", err)
	}

	// A stopped zone is snapshotted without a freeze.
	op, _ = tz.m.CreateSnapshot(ctx, "z", api.CreateSnapshotRequest{Name: "s3"})
	tz.waitOp(op)
	wantCalls(t, "snapshot of a stopped zone", tz.log.take(), []string{"snap.create s3"})

	if err := tz.m.DeleteSnapshot(ctx, "z", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := tz.m.DeleteSnapshot(ctx, "z", "s1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if snaps, _ := tz.m.ListSnapshots(ctx, "z"); len(snaps) != 1 || snaps[0].Name != "s3" {
		t.Errorf("snapshots after the delete: %+v", snaps)
	}
	if _, err := tz.m.ListSnapshots(ctx, "nosuch"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("snapshots of a missing zone: %v", err)
	}

	// What a daemon that died making a snapshot reports for it.
	for target, want := range map[string]string{"z@s3": api.OutcomeCompleted, "z@s9": api.OutcomeRolledBack} {
		if got, _ := tz.m.restartSnapshot(ctx, &api.Operation{Target: target}); got != want {
			t.Errorf("restart of snapshot %s: %q, want %q", target, got, want)
		}
	}
}

// TestSnapshotPart: reconcile drops snapshots whose record was never
// written and records whose snapshot is gone, and thaws a running zone a
// dead daemon left frozen; destroy drops the zone's records.
func TestSnapshotPart(t *testing.T) {
	tz := newTestZones(t)
	tz.start("z")
	v, err := tz.m.volume(tz.record("z"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"kept", "orphan"} {
		if err := v.CreateSnapshot(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"kept", "ghost"} {
		if err := tz.m.store.CreateSnapshot(&store.SnapshotRecord{Zone: "z", Name: s}); err != nil {
			t.Fatal(err)
		}
	}
	g := tz.cg.group("/zoned-test/z")
	if err := g.Freeze(); err != nil {
		t.Fatal(err)
	}
	p := newSnapshotPart(tz.m)
	recs, _ := tz.m.store.ListZones()
	if err := p.Reconcile(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if g.frozen {
		t.Error("the zone is left frozen")
	}
	if got := v.(*fakeVolume).snapshots(); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("snapshots on disk %v", got)
	}
	stored, _ := tz.m.store.ListSnapshots("z")
	if len(stored) != 1 || stored[0].Name != "kept" {
		t.Errorf("snapshot records %+v", stored)
	}
	if err := p.Destroy(tz.record("z")); err != nil {
		t.Fatal(err)
	}
	if stored, _ := tz.m.store.ListSnapshots("z"); len(stored) != 0 {
		t.Errorf("records after destroy %+v", stored)
	}
}

package disk

import (
	"context"
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/fsshare"
	"github.com/zoned-project/zoned/quota"
	"github.com/zoned-project/zoned/store"
)

// newTestPart gives a disk part over a fresh data dir; its host is never
// asked for anything by the steps tested here.
func newTestPart(t *testing.T) *Part {
	t.Helper()
	fs, err := fsshare.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return New(nil, fs)
}

// TestValidateCreate: bad limits are refused before anything changes,
// as the resources field's; no cap and an unknown pool are left to
// others.
func TestValidateCreate(t *testing.T) {
	q := newTestPart(t)
	ctx := context.Background()
	for _, res := range []api.Resources{{DiskBytes: -1}, {DiskInodes: 10}, {DiskBytes: 1 << 30, DiskInodes: 1 << 40}} {
		err := q.ValidateCreate(ctx, &api.CreateZoneRequest{Resources: res})
		if !errors.Is(err, errdefs.ErrInvalid) || errdefs.Field(err) != "resources" {
			t.Errorf("ValidateCreate(%+v) = %v (field %q), want ErrInvalid on resources", res, err, errdefs.Field(err))
		}
	}
	if err := q.ValidateCreate(ctx, &api.CreateZoneRequest{}); err != nil {
		t.Errorf("ValidateCreate without a cap = %v", err)
	}
	if err := q.ValidateCreate(ctx, &api.CreateZoneRequest{Pool: "nosuch", Resources: api.Resources{DiskBytes: 1 << 30}}); err != nil {
		t.Errorf("ValidateCreate in an unknown pool = %v, want nil (the pool's check names it)", err)
	}
}

// TestBtrfsCountersOnlyForQgroups: the /proc view gets counters for a
// btrfs qgroup's zone only; others' statfs reports the quota itself.
func TestBtrfsCountersOnlyForQgroups(t *testing.T) {
	q := newTestPart(t)
	for _, rec := range []*store.ZoneRecord{
		{Name: "none"},
		{Name: "project", Spec: &specs.Spec{Annotations: map[string]string{Annotation: quota.Project}}},
		{Name: "unstarted", Spec: &specs.Spec{Annotations: map[string]string{Annotation: quota.BtrfsQgroup}}},
	} {
		if c, err := q.BtrfsCounters(rec); c != nil || err != nil {
			t.Errorf("BtrfsCounters(%s) = %v, %v; want nil, nil", rec.Name, c, err)
		}
	}
}

// TestPoolQuota: a btrfs pool's zones get qgroups, another overlay pool's
// none.
func TestPoolQuota(t *testing.T) {
	q := newTestPart(t)
	if got := PoolQuota(q.fs, fsshare.PoolInfo{Name: "b", Backend: fsshare.BackendBtrfs}); got != quota.BtrfsQgroup {
		t.Errorf("btrfs pool: %q", got)
	}
	if got := PoolQuota(q.fs, fsshare.PoolInfo{Name: "ov", Backend: fsshare.BackendOverlay}); got != "none" {
		t.Errorf("overlay pool: %q", got)
	}
}

func TestDropCap(t *testing.T) {
	caps := []string{"CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_KILL"}
	got := dropCap(caps, "CAP_SYS_RESOURCE")
	if len(got) != 2 || got[0] != "CAP_CHOWN" || got[1] != "CAP_KILL" || caps[1] != "CAP_SYS_RESOURCE" {
		t.Errorf("dropCap = %v (input now %v)", got, caps)
	}
}

//go:build linux

package integration

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// TestOptionalDevicesOnlyWhenAsked gives one zone /dev/net/tun and checks
// it opens there, while a zone that did not ask neither has the node nor
// can open one it makes itself.
func TestOptionalDevicesOnlyWhenAsked(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("host has no /dev/net/tun (CONFIG_TUN): %v", err)
	}
	d := startDaemon(t)
	ctx := ctxT(t)
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "vpn", Template: "busybox", Devices: []string{"tun"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.StartZone(ctx, "vpn"); err != nil {
		t.Fatal(err)
	}
	d.createStarted("plain", api.Resources{})

	// Opening the tun multiplexer without attaching answers reads with
	// EBADFD: the open itself succeeded.
	r := d.exec("vpn", "", "cat", "/dev/net/tun")
	if !strings.Contains(r.stderr, "File descriptor in bad state") {
		t.Errorf("zone that asked for tun could not open it: %+v", r)
	}
	if r := d.exec("vpn", "", "test", "-e", "/dev/fuse"); r.code == 0 {
		t.Errorf("zone got /dev/fuse without asking")
	}
	z, err := d.c.GetZone(ctx, "vpn")
	if err != nil || len(z.Devices) != 1 || z.Devices[0] != "tun" {
		t.Errorf("zone shows devices %v (%v)", z.Devices, err)
	}

	if r := d.exec("plain", "", "test", "-e", "/dev/net/tun"); r.code == 0 {
		t.Errorf("zone that did not ask has /dev/net/tun")
	}
	// Making the node itself does not help: in an unprivileged zone mknod
	// is refused, in any zone the device policy refuses the open.
	r = d.exec("plain", "", "sh", "-c", "mknod /tmp/tun c 10 200 && cat /tmp/tun")
	if strings.Contains(r.stderr, "File descriptor in bad state") {
		t.Errorf("zone that did not ask opened a tun node it made: %+v", r)
	}
	if !strings.Contains(r.stderr, "not permitted") {
		t.Errorf("tun node refused, but not by mknod's or the device policy's EPERM: %+v", r)
	}

	_, err = d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "bad", Template: "busybox", Devices: []string{"gpu"}})
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "gpu") {
		t.Errorf("unknown device: %v, want invalid naming it", err)
	}
	if _, err := d.c.GetZone(ctx, "bad"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("refused create left a zone: %v", err)
	}
}

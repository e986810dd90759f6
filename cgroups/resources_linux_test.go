package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

func TestDeviceOfIsAWholeDisk(t *testing.T) {
	dev, err := DeviceOf(os.TempDir())
	if err != nil {
		t.Skipf("%s is not on a block device: %v", os.TempDir(), err)
	}
	if _, err := os.Stat(fmt.Sprintf("/sys/dev/block/%s/partition", dev)); err == nil {
		t.Errorf("DeviceOf gave partition %s, want its disk", dev)
	}
	if _, err := os.Stat(fmt.Sprintf("/sys/dev/block/%s", dev)); err != nil {
		t.Errorf("DeviceOf gave %s, which is no block device: %v", dev, err)
	}
}

// testDevice is a block device to cap: the one under the temp dir, or,
// where that is no block device (the lane's tmpfs root), a loop device
// over a file, detached at the end.
func testDevice(t *testing.T) Device {
	t.Helper()
	if dev, err := DeviceOf(os.TempDir()); err == nil {
		return dev
	}
	return loopDevice(t)
}

// loopDevice attaches a loop device of the test's own, over a file.
func loopDevice(t *testing.T) Device {
	t.Helper()
	img := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).Output()
	if err != nil {
		t.Skipf("%s is not on a block device and losetup failed: %v", os.TempDir(), err)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	var st unix.Stat_t
	if err := unix.Stat(loop, &st); err != nil {
		t.Fatal(err)
	}
	return Device{int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))}
}

// TestBlockIOReachesKernel sets caps on a block device, reads them back
// from the kernel's files, then lifts them.
func TestBlockIOReachesKernel(t *testing.T) {
	requireCgroups(t)
	dev := testDevice(t)
	path := testParent(t) + "/io"
	r := api.Resources{IOReadBPS: 10 << 20, IOWriteBPS: 5 << 20, IOReadIOPS: 300, IOWriteIOPS: 200}
	res := ToSpec(r)
	SetBlockIO(res, r, &dev)
	g, err := New(path, res)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Delete()
	d := dev.String()
	if Mode() == "v2" {
		want := fmt.Sprintf("%s rbps=%d wbps=%d riops=300 wiops=200", d, 10<<20, 5<<20)
		if got := readK(t, path, "", "io.max"); got != want {
			t.Errorf("io.max = %q, want %q", got, want)
		}
	} else {
		for file, want := range map[string]string{
			"blkio.throttle.read_bps_device":   fmt.Sprintf("%s %d", d, 10<<20),
			"blkio.throttle.write_bps_device":  fmt.Sprintf("%s %d", d, 5<<20),
			"blkio.throttle.read_iops_device":  d + " 300",
			"blkio.throttle.write_iops_device": d + " 200",
		} {
			if got := readK(t, path, "blkio", file); got != want {
				t.Errorf("%s = %q, want %q", file, got, want)
			}
		}
	}
	// Lifting the caps leaves no device listed.
	if err := g.Update(ToSpec(api.Resources{})); err != nil {
		t.Fatal(err)
	}
	if Mode() == "v2" {
		if got := readK(t, path, "", "io.max"); got != "" {
			t.Errorf("io.max after lifting = %q, want empty", got)
		}
	} else if got := readK(t, path, "blkio", "blkio.throttle.write_bps_device"); got != "" {
		t.Errorf("write_bps_device after lifting = %q, want empty", got)
	}
}

// TestIOWeight: a weight on a device whose scheduler cannot honour it is
// refused with the reason; on the test's own loop device switched to BFQ
// it is written.
func TestIOWeight(t *testing.T) {
	requireCgroups(t)
	path := testParent(t) + "/iow"
	g, err := New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Delete()
	hasWeight := false
	for _, f := range []string{"io.weight", "io.bfq.weight", "blkio/blkio.weight", "blkio/blkio.bfq.weight"} {
		h, file, ok := strings.Cut(f, "/")
		if !ok {
			h, file = "", f
		}
		if _, serr := os.Stat(kpath(path, h, file)); serr == nil {
			hasWeight = true
		}
	}
	weigh := func(dev *Device) error {
		r := api.Resources{IOWeight: 300}
		res := ToSpec(r)
		SetBlockIO(res, r, dev)
		return g.Update(res)
	}
	loop := loopDevice(t)
	// Loop devices keep their scheduler across attachments: start from
	// none and leave it so.
	sched := fmt.Sprintf("/sys/dev/block/%s/queue/scheduler", loop)
	if err := os.WriteFile(sched, []byte("none"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(sched, []byte("none"), 0) })
	err = weigh(&loop)
	if !hasWeight {
		if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "IO weight") {
			t.Fatalf("weight on a kernel without one: %v, want ErrUnsupported naming the IO weight", err)
		}
		t.Skipf("kernel %s has no IO weight for cgroup %s (refused as expected: %v)", kernelRelease(), Mode(), err)
	}
	// A fresh loop device uses no scheduler ("none"): no weight there.
	if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "no effect") {
		t.Errorf("weight on a device without BFQ: %v, want ErrUnsupported saying it would have no effect", err)
	}
	if err := os.WriteFile(sched, []byte("bfq"), 0); err != nil {
		t.Skipf("cannot switch loop device %s to bfq (CONFIG_IOSCHED_BFQ?): %v", loop, err)
	}
	if err := weigh(&loop); err != nil {
		t.Fatalf("weight on a BFQ device: %v", err)
	}
	for _, f := range []string{"io.bfq.weight", "blkio/blkio.bfq.weight", "io.weight"} {
		h, file, ok := strings.Cut(f, "/")
		if !ok {
			h, file = "", f
		}
		if b, err := os.ReadFile(kpath(path, h, file)); err == nil {
			if !strings.Contains(string(b), "300") {
				t.Errorf("%s = %q, want weight 300", f, b)
			}
			return
		}
	}
}

// TestOOMWatchAndReadStats: a hog in a small group is killed, the watch
// reports it, and ReadStats (the fast path) agrees with Stats.
func TestOOMWatchAndReadStats(t *testing.T) {
	requireCgroups(t)
	path := testParent(t) + "/oomw"
	g, err := New(path, ToSpec(api.Resources{MemoryBytes: 16 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Delete()
	got := make(chan [2]uint64, 10)
	w, err := WatchOOM(path, func(n, total uint64) { got <- [2]uint64{n, total} })
	if err != nil {
		t.Fatal(err)
	}
	cmd := startInGroup(t, g, "head -c 200M /dev/zero | tail")
	if err := cmd.Wait(); err == nil {
		t.Fatal("allocating 200 MiB under a 16 MiB limit succeeded")
	}
	select {
	case ev := <-got:
		if ev[0] < 1 || ev[1] < ev[0] {
			t.Errorf("watch reported %v", ev)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no OOM kill reported in 30s")
	}
	w.Stop()
	st, err := ReadStats(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.OOMKills < 1 || st.MemoryLimit != 16<<20 {
		t.Errorf("ReadStats = %+v, want an OOM kill and the 16 MiB limit", st)
	}
	if Mode() == "v2" && st.MemoryFailcnt < 1 {
		t.Errorf("ReadStats MemoryFailcnt = %d, want memory.events max >= 1", st.MemoryFailcnt)
	}
	if _, err := ReadStats(path + "-none"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("ReadStats of a missing group: %v, want ErrNotFound", err)
	}
}

// TestOOMWatchEndsWithGroup: on v1 removing the group ends the watch by
// itself (the kernel signals the eventfd); on v2 the inotify watch keeps
// the removed file's inode and only Stop ends it, which must not hang.
func TestOOMWatchEndsWithGroup(t *testing.T) {
	requireCgroups(t)
	path := testParent(t) + "/oomgone"
	g, err := New(path, ToSpec(api.Resources{MemoryBytes: 16 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	w, err := WatchOOM(path, func(uint64, uint64) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Delete(); err != nil {
		t.Fatal(err)
	}
	if Mode() == "v1" {
		select {
		case <-w.done:
		case <-time.After(30 * time.Second):
			t.Error("watch still running 30s after its group was removed")
		}
	}
	w.Stop()
	select {
	case <-w.done:
	default:
		t.Error("Stop returned with the watch still running")
	}
}

// TestReadUsageAgreesWithReadStats: the list's light read gives the same
// memory limit, tasks and CPU time as the full stats of a busy group.
func TestReadUsageAgreesWithReadStats(t *testing.T) {
	requireCgroups(t)
	path := testParent(t) + "/usage"
	g, err := New(path, ToSpec(api.Resources{MemoryBytes: 64 << 20, PidsMax: 50}))
	if err != nil {
		t.Fatal(err)
	}
	cmd := startInGroup(t, g, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 30")
	defer func() {
		_ = g.Kill()
		_ = cmd.Wait()
		_ = g.Delete()
	}()
	time.Sleep(300 * time.Millisecond)
	u, err := ReadUsage(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ReadStats(path)
	if err != nil {
		t.Fatal(err)
	}
	if u.MemoryLimit != st.MemoryLimit || u.MemoryLimit != 64<<20 || u.Pids != st.Pids || u.Pids == 0 {
		t.Errorf("ReadUsage %+v, ReadStats %+v: limit and tasks differ", u, st)
	}
	if u.CPUUsageNanos == 0 || u.CPUUsageNanos > st.CPUUsageNanos || u.MemoryUsage == 0 {
		t.Errorf("ReadUsage %+v against ReadStats %+v: no CPU time or memory", u, st)
	}
	if u.MemoryFailcnt != 0 || u.IOReadBytes != 0 {
		t.Errorf("ReadUsage filled what it does not read: %+v", u)
	}
	if _, err := ReadUsage(path + "-none"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("ReadUsage of a missing group: %v, want ErrNotFound", err)
	}
}

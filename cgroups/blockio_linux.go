package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// DeviceOf finds the block device whose IO a cap on the files at path
// throttles: the whole disk (or loop or device-mapper device) under the
// filesystem that holds path. The IO controllers refuse partitions, and a
// partition's IO is its disk's, so a partition resolves to its disk.
// Filesystems with anonymous device numbers (btrfs, overlayfs) resolve to
// the block device their mount names as source; a multi-device btrfs is
// throttled on that first device only.
func DeviceOf(path string) (Device, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return Device{}, fmt.Errorf("find the block device of %s: %w", path, err)
	}
	maj, mnr := int64(unix.Major(st.Dev)), int64(unix.Minor(st.Dev))
	if maj == 0 {
		src, err := mountSource(maj, mnr)
		if err != nil {
			return Device{}, fmt.Errorf("find the block device of %s: %w", path, err)
		}
		var bst unix.Stat_t
		if err := unix.Stat(src, &bst); err != nil || bst.Mode&unix.S_IFMT != unix.S_IFBLK {
			return Device{}, fmt.Errorf("find the block device of %s: its filesystem's source %q is not a block device, so there is no device to cap IO on: %w", path, src, errdefs.ErrUnsupported)
		}
		maj, mnr = int64(unix.Major(bst.Rdev)), int64(unix.Minor(bst.Rdev))
	}
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", maj, mnr)
	if _, err := os.Stat(sys); err != nil {
		return Device{}, fmt.Errorf("find the block device of %s: %d:%d is not a block device (%w): %w", path, maj, mnr, err, errdefs.ErrUnsupported)
	}
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		b, err := os.ReadFile(filepath.Join(sys, "..", "dev"))
		if err != nil {
			return Device{}, fmt.Errorf("find the disk of partition %d:%d: %w", maj, mnr, err)
		}
		return parseDevice(strings.TrimSpace(string(b)))
	}
	return Device{maj, mnr}, nil
}

// mountSource returns the source of the mount whose device is maj:mnr.
func mountSource(maj, mnr int64) (string, error) {
	infos, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		hit := int64(m.Major) == maj && int64(m.Minor) == mnr
		return !hit, hit
	})
	if err != nil {
		return "", err
	}
	if len(infos) == 0 {
		return "", fmt.Errorf("no mount has device %d:%d: %w", maj, mnr, errdefs.ErrNotFound)
	}
	return infos[0].Source, nil
}

func parseDevice(s string) (Device, error) {
	a, b, ok := strings.Cut(s, ":")
	maj, err1 := strconv.ParseInt(a, 10, 64)
	mnr, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return Device{}, fmt.Errorf("bad device number %q", s)
	}
	return Device{maj, mnr}, nil
}

// blkioThrottleFiles are v1's per-device caps, in ioRates order.
var blkioThrottleFiles = [4]string{
	"blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
	"blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device",
}

// listedDevices reads the devices a per-device control file (v1's
// throttle files, v2's io.max) has entries for.
func listedDevices(dir, file string) ([]Device, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, file), err)
	}
	var out []Device
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if d, err := parseDevice(f[0]); err == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// setBlkio writes v1's IO weight and caps. The proportional weight exists
// only under CFQ (blkio.weight, kernels before 5.0) or BFQ
// (blkio.bfq.weight, when the device's scheduler is bfq); without either
// a weight is refused with the reason, while throttling, which works
// under any scheduler, goes on. A device no longer capped gets 0 (none).
func (g *v1Group) setBlkio(res *specs.LinuxResources) error {
	rates, weight := ioRatesOf(res), ioWeight(res)
	dir, ok := g.dirs["blkio"]
	if !ok {
		if len(rates) > 0 || weight > 0 {
			return fmt.Errorf("limit block IO: blkio hierarchy not mounted: %w", errdefs.ErrUnsupported)
		}
		return nil
	}
	switch {
	case fileExists(dir, "blkio.bfq.weight"):
		if err := weightEffective(res, false); err != nil {
			return err
		}
		// BFQ takes 1..1000 with v2's default of 100: the same scale.
		w := uint64(100)
		if weight > 0 {
			w = min(weight, 1000)
		}
		if err := writeFile(dir, "blkio.bfq.weight", strconv.FormatUint(w, 10)); err != nil {
			return err
		}
	case fileExists(dir, "blkio.weight"):
		// CFQ takes 10..1000, default 500: five times v2's scale.
		w := uint64(500)
		if weight > 0 {
			w = min(max(weight*5, 10), 1000)
		}
		if err := writeFile(dir, "blkio.weight", strconv.FormatUint(w, 10)); err != nil {
			return err
		}
	case weight > 0:
		return fmt.Errorf("set IO weight %d: this kernel has no proportional IO weight on cgroup v1 (blkio.weight and blkio.bfq.weight missing: CFQ is gone since Linux 5.0 and BFQ is not the device's IO scheduler); IO rate caps work: %w", weight, errdefs.ErrUnsupported)
	}
	for i, file := range blkioThrottleFiles {
		old, err := listedDevices(dir, file)
		if err != nil {
			return err
		}
		for _, d := range old {
			if _, keep := rates[d]; !keep {
				if err := writeFile(dir, file, d.String()+" 0"); err != nil {
					return err
				}
			}
		}
		for d, r := range rates {
			if err := writeFile(dir, file, fmt.Sprintf("%s %d", d, r[i])); err != nil {
				return err
			}
		}
	}
	return nil
}

// setIO writes v2's io.weight and io.max. io.weight belongs to the
// iocost controller (CONFIG_BLK_CGROUP_IOCOST); io.bfq.weight to BFQ.
func (g *v2Group) setIO(res *specs.LinuxResources) error {
	rates, weight := ioRatesOf(res), ioWeight(res)
	// Both iocost's io.weight and BFQ's io.bfq.weight get the weight
	// where they exist: which one acts depends on the device.
	hasCost, hasBFQ := g.has("io.weight"), g.has("io.bfq.weight")
	if weight > 0 && !hasCost && !hasBFQ {
		return fmt.Errorf("set IO weight %d: io.weight missing (io controller not enabled, or kernel without CONFIG_BLK_CGROUP_IOCOST or BFQ): %w", weight, errdefs.ErrUnsupported)
	}
	if err := weightEffective(res, hasCost); err != nil {
		return err
	}
	if hasCost {
		w := uint64(100)
		if weight > 0 {
			w = weight
		}
		if err := writeFile(g.dir, "io.weight", fmt.Sprintf("default %d", w)); err != nil {
			return err
		}
	}
	if hasBFQ {
		w := uint64(100)
		if weight > 0 {
			w = min(weight, 1000)
		}
		if err := writeFile(g.dir, "io.bfq.weight", fmt.Sprintf("default %d", w)); err != nil {
			return err
		}
	}
	if !g.has("io.max") {
		if len(rates) > 0 {
			return fmt.Errorf("cap block IO: io.max missing (io controller not enabled, or kernel without CONFIG_BLK_DEV_THROTTLING): %w", errdefs.ErrUnsupported)
		}
		return nil
	}
	old, err := listedDevices(g.dir, "io.max")
	if err != nil {
		return err
	}
	for _, d := range old {
		if _, keep := rates[d]; !keep {
			if err := writeFile(g.dir, "io.max", d.String()+" rbps=max wbps=max riops=max wiops=max"); err != nil {
				return err
			}
		}
	}
	for d, r := range rates {
		v := [4]string{}
		for i, n := range r {
			v[i] = "max"
			if n > 0 {
				v[i] = strconv.FormatUint(n, 10)
			}
		}
		line := fmt.Sprintf("%s rbps=%s wbps=%s riops=%s wiops=%s", d, v[0], v[1], v[2], v[3])
		if err := writeFile(g.dir, "io.max", line); err != nil {
			return err
		}
	}
	return nil
}

// weightEffective refuses a weight that would be accepted but do nothing
// on the devices res names: a proportional weight acts only where the
// device's IO scheduler is BFQ or, on v2, where iocost is enabled for it
// (io.cost.qos "enable=1" in the root group). Without a weight, or with no
// device named, there is nothing to check.
func weightEffective(res *specs.LinuxResources, iocost bool) error {
	if ioWeight(res) == 0 {
		return nil
	}
	for _, d := range weightDevices(res) {
		sched, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%s/queue/scheduler", d))
		if err == nil && (strings.Contains(string(sched), "[bfq]") || strings.Contains(string(sched), "[cfq]")) {
			continue
		}
		if iocost {
			if qos, err := os.ReadFile(filepath.Join(root, "io.cost.qos")); err == nil {
				if enabledFor(string(qos), d) {
					continue
				}
			}
		}
		how := "its IO scheduler is not bfq (echo bfq > /sys/dev/block/" + d.String() + "/queue/scheduler)"
		if iocost {
			how += " and iocost is not enabled for it (io.cost.qos)"
		}
		return fmt.Errorf("set IO weight %d: it would have no effect on device %s: %s: %w", ioWeight(res), d, how, errdefs.ErrUnsupported)
	}
	return nil
}

// CheckIOWeight refuses, before any group exists, an IO weight in res
// that the devices it names would ignore (see weightEffective): a create
// fails at once rather than at the zone's first start.
func CheckIOWeight(res *specs.LinuxResources) error {
	return weightEffective(res, Mode() == "v2")
}

// enabledFor says whether io.cost.qos enables iocost for d.
func enabledFor(qos string, d Device) bool {
	for _, line := range strings.Split(qos, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == d.String() && slices.Contains(f[1:], "enable=1") {
			return true
		}
	}
	return false
}

func fileExists(dir, file string) bool {
	_, err := os.Stat(filepath.Join(dir, file))
	return err == nil
}

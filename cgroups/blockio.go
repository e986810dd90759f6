//go:build linux

package cgroups

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
)

// Device is a block device by its numbers, as the IO controllers name it.
type Device struct{ Major, Minor int64 }

func (d Device) String() string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// HasIOCaps says whether r caps IO rates, which needs a device to apply to.
// An IO weight needs one too, to check that it has an effect there.
func HasIOCaps(r api.Resources) bool {
	return r.IOReadBPS > 0 || r.IOWriteBPS > 0 || r.IOReadIOPS > 0 || r.IOWriteIOPS > 0
}

// SetBlockIO adds r's IO weight and rate caps to res. The caps apply to
// dev, the block device that holds the zone's root; dev may be nil only
// when r has no caps. The weight is kept in v2's scale (1..10000, default
// 100): each cgroup version converts it when it writes it.
func SetBlockIO(res *specs.LinuxResources, r api.Resources, dev *Device) {
	bio := &specs.LinuxBlockIO{}
	used := false
	if r.IOWeight > 0 {
		w := uint16(min(r.IOWeight, 10000))
		bio.Weight, used = &w, true
		if dev != nil {
			// The device the weight must be effective on: written
			// as the default weight, checked against the device's
			// scheduler (see weightEffective).
			wd := specs.LinuxWeightDevice{Weight: &w}
			wd.Major, wd.Minor = dev.Major, dev.Minor
			bio.WeightDevice = []specs.LinuxWeightDevice{wd}
		}
	}
	if dev != nil {
		rate := func(v int64) []specs.LinuxThrottleDevice {
			if v <= 0 {
				return nil
			}
			used = true
			t := specs.LinuxThrottleDevice{Rate: uint64(v)}
			t.Major, t.Minor = dev.Major, dev.Minor
			return []specs.LinuxThrottleDevice{t}
		}
		bio.ThrottleReadBpsDevice = rate(r.IOReadBPS)
		bio.ThrottleWriteBpsDevice = rate(r.IOWriteBPS)
		bio.ThrottleReadIOPSDevice = rate(r.IOReadIOPS)
		bio.ThrottleWriteIOPSDevice = rate(r.IOWriteIOPS)
	}
	if used {
		res.BlockIO = bio
	} else {
		res.BlockIO = nil
	}
}

// ioRates are one device's caps, 0 for none, in the order of
// blkioThrottleFiles and io.max's keys.
type ioRates [4]uint64

// ioRatesOf collects the caps res sets per device.
func ioRatesOf(res *specs.LinuxResources) map[Device]*ioRates {
	out := map[Device]*ioRates{}
	if res == nil || res.BlockIO == nil {
		return out
	}
	b := res.BlockIO
	for i, list := range [][]specs.LinuxThrottleDevice{b.ThrottleReadBpsDevice, b.ThrottleWriteBpsDevice, b.ThrottleReadIOPSDevice, b.ThrottleWriteIOPSDevice} {
		for _, t := range list {
			d := Device{t.Major, t.Minor}
			if out[d] == nil {
				out[d] = &ioRates{}
			}
			out[d][i] = t.Rate
		}
	}
	return out
}

// weightDevices are the devices res wants its weight to be effective on.
func weightDevices(res *specs.LinuxResources) []Device {
	if res == nil || res.BlockIO == nil {
		return nil
	}
	var out []Device
	for _, wd := range res.BlockIO.WeightDevice {
		out = append(out, Device{wd.Major, wd.Minor})
	}
	return out
}

// ioWeight is the v2-scale weight res asks for, 0 when none.
func ioWeight(res *specs.LinuxResources) uint64 {
	if res == nil || res.BlockIO == nil || res.BlockIO.Weight == nil {
		return 0
	}
	return uint64(*res.BlockIO.Weight)
}

// validateIO checks the IO fields of r.
func validateIO(r api.Resources, bad func(string, any, string) error) error {
	if r.IOWeight != 0 && (r.IOWeight < 1 || r.IOWeight > 10000) {
		return bad("io_weight", r.IOWeight, "must be 1..10000")
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"io_read_bps", r.IOReadBPS}, {"io_write_bps", r.IOWriteBPS}, {"io_read_iops", r.IOReadIOPS}, {"io_write_iops", r.IOWriteIOPS}} {
		if f.v < 0 {
			return bad(f.name, f.v, "must not be negative")
		}
	}
	return nil
}

// meminfoPath is read for the host's RAM; a variable for tests.
var meminfoPath = "/proc/meminfo"

// HostMemoryBytes is the host's RAM (MemTotal).
func HostMemoryBytes() (int64, error) {
	f, err := os.Open(meminfoPath)
	if err != nil {
		return 0, fmt.Errorf("read host memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s MemTotal: %w", meminfoPath, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no MemTotal in %s", meminfoPath)
}

//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/zoned-project/zoned/api"
)

// density starts N idle zones (busybox, then Debian with systemd) with
// zoned and with lxc, one tool at a time, and measures what each zone
// costs the host once all run: the PSS of every process that exists
// because of the zone (its own processes and, for lxc, its lxc-start
// monitor; zoned has no per-zone supervisor, and any process of the
// daemon's outside the zones' groups would be counted), the zone cgroup's
// memory usage (page cache and kernel memory included), and zoned's
// daemon RSS.
func (b *Bench) density(ctx context.Context) error {
	bbRoot, err := b.zoned.ensureTemplate(ctx, api.CreateTemplateRequest{Name: "busybox", From: "builtin"})
	if err != nil {
		return err
	}
	kinds := []struct {
		label, template, root string
		n                     int
		ready                 probe
	}{
		{"busybox", "busybox", bbRoot, b.cfg.DensityBusybox, func(ctx context.Context, ex func(context.Context, ...string) string) (bool, string) {
			st := strings.TrimSpace(ex(ctx, "echo", "ok"))
			return st == "ok", st
		}},
		{"debian", debianTemplate.Name, "", b.cfg.DensityDebian, func(ctx context.Context, ex func(context.Context, ...string) string) (bool, string) {
			st := strings.TrimSpace(ex(ctx, "systemctl", "is-system-running"))
			return st == "running" || st == "degraded", st
		}},
	}
	for _, k := range kinds {
		if ctx.Err() != nil {
			break
		}
		sc := fmt.Sprintf("3 density, %d idle %s", k.n, k.label)
		root := k.root
		if root == "" {
			if root, err = b.zoned.ensureTemplate(ctx, debianTemplate); err != nil {
				return err
			}
		}
		if err := b.zonedDensity(ctx, sc, k.template, k.n, k.ready); err != nil {
			return fmt.Errorf("zoned, %s: %w", k.label, err)
		}
		l, err := b.lxc(ctx, "lxc-"+k.label, root)
		if err != nil {
			b.res.skip(sc, "PSS per zone", "lxc", oneLine(err.Error()))
			continue
		}
		if err := b.lxcDensity(ctx, sc, l, k.n, k.ready); err != nil {
			b.res.skip(sc, "PSS per zone", "lxc", "failed here: "+oneLine(err.Error()))
		}
	}
	return ctx.Err()
}

func mib(v uint64) float64 { return float64(v) / (1 << 20) }

// probe says whether a zone is up (and its state), through a function
// that runs a command in it.
type probe func(ctx context.Context, exec func(context.Context, ...string) string) (bool, string)

// waitReady polls ready for every zone, for at most 3 minutes plus 2 s a
// zone in all, and returns a note naming the zones that did not come up:
// a zone stuck in boot still costs memory and is measured with the rest.
func waitReady(ctx context.Context, names []string, ready func(context.Context, string) (bool, string)) (string, error) {
	deadline := time.Now().Add(3*time.Minute + time.Duration(len(names))*2*time.Second)
	states := map[string]int{}
	late := 0
	for _, n := range names {
		for {
			ok, st := ready(ctx, n)
			if ok {
				break
			}
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			if time.Now().After(deadline) {
				late++
				states[oneLine(st)]++
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// A moment for the last boots' bursts to settle.
	time.Sleep(3 * time.Second)
	if late == 0 {
		return "", nil
	}
	return fmt.Sprintf("; %d of %d not up by the deadline (states %v), measured as they were", late, len(names), states), nil
}

func (b *Bench) zonedDensity(ctx context.Context, sc, template string, n int, ready probe) error {
	z := b.zoned
	names := make([]string, n)
	defer func() {
		for _, name := range names {
			if name != "" {
				_ = z.c.DestroyZone(context.Background(), name, true)
			}
		}
	}()
	for i := range names {
		name := fmt.Sprintf("dens-%s-%d", template, i)
		if _, err := z.c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: template}); err != nil {
			return err
		}
		names[i] = name
		if _, err := z.c.StartZone(ctx, name); err != nil {
			return err
		}
	}
	late, err := waitReady(ctx, names, func(ctx context.Context, name string) (bool, string) {
		return ready(ctx, func(ctx context.Context, args ...string) string {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, out, _ := z.exec(cctx, name, args...)
			return out
		})
	})
	if err != nil {
		return err
	}
	var pssPer, usagePer []float64
	for _, name := range names {
		group := z.cgroup + "/" + name
		var sum uint64
		for _, pid := range groupPIDs(group) {
			sum += pss(pid)
		}
		pssPer = append(pssPer, mib(sum))
		u, err := memoryUsage(group)
		if err != nil {
			return err
		}
		usagePer = append(usagePer, mib(u))
	}
	// Supervisors: the daemon's descendants outside the zones' groups.
	zoneProcs := map[int]bool{}
	for _, pid := range groupPIDs(z.cgroup) {
		zoneProcs[pid] = true
	}
	var supPSS uint64
	supervisors := 0
	for _, pid := range descendants(z.cmd.Process.Pid) {
		if !zoneProcs[pid] {
			supervisors++
			supPSS += pss(pid)
		}
	}
	for i := range pssPer {
		pssPer[i] += mib(supPSS) / float64(n)
	}
	b.res.add(sc, "PSS per zone", "zoned", "MiB", pssPer, fmt.Sprintf("zone's processes; %d supervisor processes for %d zones%s", supervisors, n, late))
	b.res.add(sc, "cgroup memory usage per zone", "zoned", "MiB", usagePer, "memory.usage_in_bytes / memory.current of the zone's group")
	b.res.add(sc, "daemon RSS", "zoned", "MiB", []float64{mib(rss(z.cmd.Process.Pid))}, fmt.Sprintf("one daemon for all %d zones", n))
	return nil
}

func (b *Bench) lxcDensity(ctx context.Context, sc string, l *lxcHost, n int, ready probe) error {
	names := make([]string, n)
	defer func() {
		for _, name := range names {
			if name != "" {
				_ = exec.Command("lxc-stop", "-P", l.path, "-n", name, "-k").Run()
				_ = exec.Command("lxc-destroy", "-P", l.path, "-n", name, "-f").Run()
			}
		}
	}()
	for i := range names {
		name := fmt.Sprintf("dens-%d", i)
		if err := l.create(ctx, name); err != nil {
			return err
		}
		names[i] = name
		if err := l.start(ctx, name); err != nil {
			return err
		}
	}
	late, err := waitReady(ctx, names, func(ctx context.Context, name string) (bool, string) {
		return ready(ctx, func(ctx context.Context, args ...string) string {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			out, _ := l.attach(cctx, name, args...)
			return out
		})
	})
	if err != nil {
		return err
	}
	var pssPer, usagePer []float64
	monitors := 0
	for _, name := range names {
		cont, mon := l.cgroupOf(name)
		var sum uint64
		for _, pid := range groupPIDs(cont) {
			sum += pss(pid)
		}
		for _, pid := range groupPIDs(mon) {
			monitors++
			sum += pss(pid)
		}
		pssPer = append(pssPer, mib(sum))
		u, err := memoryUsage(cont)
		if err != nil {
			return err
		}
		usagePer = append(usagePer, mib(u))
	}
	b.res.add(sc, "PSS per zone", "lxc", "MiB", pssPer, fmt.Sprintf("container's processes plus its lxc-start monitor (%d monitors for %d containers)%s", monitors, n, late))
	b.res.add(sc, "cgroup memory usage per zone", "lxc", "MiB", usagePer, "memory usage of the container's group (the monitor's is not included)")
	b.res.skip(sc, "daemon RSS", "lxc", "lxc has no daemon: its per-container monitor is in PSS per zone")
	return nil
}

// descendants lists every process below pid.
func descendants(root int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

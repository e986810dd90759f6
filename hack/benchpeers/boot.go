//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zoned-project/zoned/api"
)

const bootMetric = "start until `systemctl is-system-running` = running (Debian bookworm)"

// debianTemplate is the Debian root every tool boots: built by zoned with
// debootstrap (cached by fsshare under /var/cache/zoned/debootstrap), so
// the peers get a copy of exactly the root the zones use, with the same
// units masked.
var debianTemplate = api.CreateTemplateRequest{Name: "bookworm", From: "debootstrap", Suite: "bookworm", Include: []string{"systemd-sysv", "dbus"}}

// booter is one tool's boot run: boot returns once the system answers
// running (or degraded, said in the returned state), and stop undoes
// everything of that run.
type booter struct {
	tool, note string
	boot       func(ctx context.Context, i int) (time.Duration, string, error)
}

// boot times how long a Debian systemd root takes from the start command to
// `systemctl is-system-running` answering running, polled through each
// tool's own way in (zoned exec, lxc-attach, nsenter for nspawn).
func (b *Bench) boot(ctx context.Context) error {
	const sc = "2 boot"
	root, err := b.zoned.ensureTemplate(ctx, debianTemplate)
	if err != nil {
		return err
	}
	booters := []booter{{tool: "zoned", note: "unprivileged zone; polled with zoned exec", boot: b.zonedBoot}}
	if l, err := b.lxc(ctx, "lxc-debian", root); err != nil {
		b.res.skip(sc, bootMetric, "lxc", oneLine(err.Error()))
	} else {
		booters = append(booters, booter{tool: "lxc", note: "lxc-copy -s -B overlay, lxc-start; polled with lxc-attach; privileged", boot: l.bootRun})
	}
	if nb, err := b.nspawnBooter(root); err != nil {
		b.res.skip(sc, bootMetric, "systemd-nspawn", oneLine(err.Error()))
	} else {
		booters = append(booters, nb)
	}
	runs := b.cfg.Runs / 2
	if runs < 3 {
		runs = 3
	}
	if b.cfg.Smoke {
		runs = 1
	}
	times := make([][]time.Duration, len(booters))
	notes := make([]string, len(booters))
	alive := make([]bool, len(booters))
	for j := range booters {
		alive[j] = true
	}
	for i := 0; i <= runs && ctx.Err() == nil; i++ {
		for j, bt := range booters {
			if !alive[j] {
				continue
			}
			d, state, err := bt.boot(ctx, i)
			if err != nil {
				alive[j] = false
				notes[j] = "failed here: " + oneLine(err.Error())
				continue
			}
			if state != "running" && !strings.Contains(notes[j], state) {
				notes[j] += fmt.Sprintf(" ended %q in some runs (time to that state counted);", state)
			}
			if i > 0 { // run 0 warms the page cache
				times[j] = append(times[j], d)
			}
		}
	}
	for j, bt := range booters {
		if len(times[j]) == 0 {
			b.res.skip(sc, bootMetric, bt.tool, notes[j])
			continue
		}
		b.res.durations(sc, bootMetric, bt.tool, times[j], strings.TrimSuffix(strings.TrimSpace(bt.note+";"+notes[j]), ";"))
	}
	return ctx.Err()
}

// pollRunning asks check for the system state until it is running or
// degraded, or the deadline passes.
func pollRunning(ctx context.Context, begin time.Time, check func(context.Context) string) (time.Duration, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	last := ""
	for ctx.Err() == nil {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		st := strings.TrimSpace(check(cctx))
		ccancel()
		if st == "running" || st == "degraded" {
			return time.Since(begin), st, nil
		}
		if st != "" {
			last = st
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, last, fmt.Errorf("not running after 90s (last state %q)", last)
}

func (b *Bench) zonedBoot(ctx context.Context, i int) (time.Duration, string, error) {
	c := b.zoned.c
	name := fmt.Sprintf("boot-%d", i)
	if _, err := c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: debianTemplate.Name}); err != nil {
		return 0, "", err
	}
	defer func() {
		_, _ = c.StopZone(context.Background(), name, api.StopRequest{Force: true})
		_ = c.DestroyZone(context.Background(), name, true)
	}()
	begin := time.Now()
	if _, err := c.StartZone(ctx, name); err != nil {
		return 0, "", err
	}
	return pollRunning(ctx, begin, func(ctx context.Context) string {
		_, out, _ := b.zoned.exec(ctx, name, "systemctl", "is-system-running")
		return out
	})
}

func (l *lxcHost) bootRun(ctx context.Context, i int) (time.Duration, string, error) {
	name := fmt.Sprintf("boot-%d", i)
	if err := l.create(ctx, name); err != nil {
		return 0, "", err
	}
	defer func() {
		_ = exec.Command("lxc-stop", "-P", l.path, "-n", name, "-k").Run()
		_ = exec.Command("lxc-destroy", "-P", l.path, "-n", name, "-f").Run()
	}()
	begin := time.Now()
	if err := l.start(ctx, name); err != nil {
		return 0, "", err
	}
	return pollRunning(ctx, begin, func(ctx context.Context) string {
		out, _ := l.attach(ctx, name, "systemctl", "is-system-running")
		return out
	})
}

// nspawnBooter boots the root with systemd-nspawn --boot --register=no
// --keep-unit on an overlay of the benchmark's own, started from a cgroup
// of the benchmark's own: --keep-unit makes nspawn use the cgroup it was
// started in, so it creates nothing outside that group.
func (b *Bench) nspawnBooter(root string) (booter, error) {
	bin, err := lookPath("systemd-nspawn")
	if err != nil {
		return booter{}, err
	}
	if _, err := lookPath("nsenter"); err != nil {
		return booter{}, err
	}
	return booter{tool: "systemd-nspawn", note: "--boot --register=no --keep-unit from a cgroup of the benchmark's own, on an overlay; polled with nsenter; privileged",
		boot: func(ctx context.Context, i int) (time.Duration, string, error) {
			dir := filepath.Join(b.workDir, "nspawn", strconv.Itoa(i))
			rootfs, err := b.overlayRoot(root, dir)
			if err != nil {
				return 0, "", err
			}
			group := fmt.Sprintf("%s/nspawn-%d", b.cgroup, i)
			if err := makeGroup(group); err != nil {
				return 0, "", err
			}
			var out bytes.Buffer
			cmd := exec.Command(b.self, "cgexec", group, bin, "--boot", "--register=no", "--keep-unit", "--quiet",
				"--console=passive", "--private-network", "-M", fmt.Sprintf("zb-%s-%d", b.id, i), "-D", rootfs)
			cmd.Stdout, cmd.Stderr = &out, &out
			done := make(chan error, 1)
			begin := time.Now()
			if err := cmd.Start(); err != nil {
				return 0, "", err
			}
			go func() { done <- cmd.Wait() }()
			defer func() {
				// nspawn turns SIGTERM into the container's poweroff; what
				// is left after 15 s is killed with the group.
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-done:
				case <-time.After(15 * time.Second):
				}
				_ = removeGroup(group)
				_ = unmountAll(rootfs)
				_ = os.RemoveAll(dir)
			}()
			d, st, err := pollRunning(ctx, begin, func(ctx context.Context) string {
				select {
				case err := <-done:
					done <- err
					return ""
				default:
				}
				pid := containerInit(group)
				if pid == 0 {
					return ""
				}
				o, _ := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(pid), "-m", "-u", "-i", "-n", "-p", "--", "systemctl", "is-system-running").Output()
				return string(o)
			})
			select {
			case werr := <-done:
				return 0, "", fmt.Errorf("systemd-nspawn exited: %v: %s", werr, oneLine(out.String()))
			default:
			}
			if err != nil {
				return 0, "", errors.Join(err, errors.New(oneLine(out.String())))
			}
			return d, st, nil
		}}, nil
}

// containerInit finds the process in group that is PID 1 of its own PID
// namespace: the container's init.
func containerInit(group string) int {
	for _, pid := range groupPIDs(group) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
				f := strings.Fields(rest)
				if len(f) >= 2 && f[len(f)-1] == "1" {
					return pid
				}
			}
		}
	}
	return 0
}

//go:build linux

package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/zoned-project/zoned/api"
)

const execMetric = "exec /bin/true in a running container (busybox)"

// execScenario times entering a running container to run /bin/true, the
// thing panels do many times a minute: zoned through its API and through
// zonectl (a process per call, as a shell script or a panel's shell-out
// pays), nsenter into the very same zone's namespaces (the kernel's floor
// for joining them, without zoned's capabilities, seccomp and cgroup
// work), and lxc-attach into a running lxc container on the same root.
// The tools alternate within each round.
func (b *Bench) execScenario(ctx context.Context) error {
	const sc = "1b exec"
	lower, err := b.zoned.ensureTemplate(ctx, api.CreateTemplateRequest{Name: "busybox", From: "builtin"})
	if err != nil {
		return err
	}
	const zone = "ex-0"
	if _, err := b.zoned.c.CreateZone(ctx, api.CreateZoneRequest{Name: zone, Template: "busybox"}); err != nil {
		return err
	}
	b.onCleanup("destroy zone "+zone, func() error { return b.zoned.c.DestroyZone(context.Background(), zone, true) })
	z, err := b.zoned.c.StartZone(ctx, zone)
	if err != nil {
		return err
	}
	zonectl := filepath.Join(filepath.Dir(b.cfg.Zoned), "zonectl")
	cyclers := []cycler{{
		tool: "zoned",
		note: "POST /v1/zones/{name}/exec through the client package: user namespace, capabilities, seccomp, the zone's cgroup",
		cycle: func(ctx context.Context, _ int) error {
			code, out, err := b.zoned.exec(ctx, zone, "/bin/true")
			if err != nil || code != 0 {
				return fmt.Errorf("exec: code %d, %v: %s", code, err, out)
			}
			return nil
		},
	}, {
		tool: "zoned (zonectl)",
		note: "zonectl exec ZONE -- /bin/true: a process per call",
		cycle: func(ctx context.Context, _ int) error {
			out, err := exec.CommandContext(ctx, zonectl, "--socket", b.zoned.socket, "exec", zone, "--", "/bin/true").CombinedOutput()
			if err != nil {
				return fmt.Errorf("zonectl exec: %w: %s", err, out)
			}
			return nil
		},
	}, {
		tool: "nsenter",
		note: "nsenter -t INIT -a -r -w into the same zone: joining its namespaces, nothing more",
		cycle: func(ctx context.Context, _ int) error {
			out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(z.InitPID), "-a", "-r", "-w", "/bin/true").CombinedOutput()
			if err != nil {
				return fmt.Errorf("nsenter: %w: %s", err, out)
			}
			return nil
		},
	}}
	if !b.cfg.Smoke {
		if c, err := b.lxcExecCycler(ctx, lower); err != nil {
			b.res.skip(sc, execMetric, "lxc", oneLine(err.Error()))
		} else {
			cyclers = append(cyclers, c)
		}
	}
	return b.timeCyclers(ctx, sc, execMetric, cyclers)
}

// lxcExecCycler runs lxc-attach /bin/true in one running lxc container.
func (b *Bench) lxcExecCycler(ctx context.Context, lower string) (cycler, error) {
	l, err := b.lxc(ctx, "lxc-busybox", lower)
	if err != nil {
		return cycler{}, err
	}
	const name = "ex-0"
	if err := l.create(ctx, name); err != nil {
		return cycler{}, err
	}
	if err := l.start(ctx, name); err != nil {
		return cycler{}, err
	}
	return cycler{tool: "lxc", note: "lxc-attach --clear-env into a running privileged container", cycle: func(ctx context.Context, _ int) error {
		if out, err := l.attach(ctx, name, "/bin/true"); err != nil {
			return fmt.Errorf("lxc-attach: %w: %s", err, out)
		}
		return nil
	}}, nil
}

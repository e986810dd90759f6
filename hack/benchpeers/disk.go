//go:build linux

package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/zoned-project/zoned/api"
)

// diskBackend is one storage backend zoned can put zones' layers on. The
// list is meant to grow: a backend gives the create request's changes and
// where its zones' bytes live, or says why it cannot run here.
type diskBackend struct {
	name string
	// prepare readies the backend and returns how to change a create
	// request for it and the directory whose allocated bytes are the
	// zones' (nil error); or why it cannot be measured here.
	prepare func(ctx context.Context) (func(*api.CreateZoneRequest), string, error)
	// fsDelta measures each zone as the growth of the used bytes of the
	// filesystem of dir, for backends whose zones share extents with the
	// template: counting their files' blocks would count the template's
	// extents in every zone.
	fsDelta bool
}

func (b *Bench) diskBackends() []diskBackend {
	return []diskBackend{
		{name: "overlay", prepare: func(context.Context) (func(*api.CreateZoneRequest), string, error) {
			return func(*api.CreateZoneRequest) {}, filepath.Join(b.zoned.dataDir, "zones"), nil
		}},
		{name: "btrfs", fsDelta: true, prepare: b.btrfsPool},
	}
}

// disk creates N zones from the Debian template on each backend and
// measures the bytes they take on disk (allocated blocks, hard links
// counted once), beside the template itself and lxc's overlay clones of
// the same root.
func (b *Bench) disk(ctx context.Context) error {
	n := b.cfg.DiskZones
	sc := fmt.Sprintf("4 disk, %d zones from one template", n)
	root, err := b.zoned.ensureTemplate(ctx, debianTemplate)
	if err != nil {
		return err
	}
	tmpl := diskBytes(root)
	b.res.add(sc, "template (shared, once)", "zoned", "MiB", []float64{mib(tmpl)}, "Debian bookworm minbase + systemd-sysv, dbus")
	for _, be := range b.diskBackends() {
		metric := "bytes per zone, " + be.name
		change, dir, err := be.prepare(ctx)
		if err != nil {
			b.res.skip(sc, metric, "zoned", oneLine(err.Error()))
			continue
		}
		if err := b.zonedDisk(ctx, sc, metric, n, change, dir, be.fsDelta); err != nil {
			return fmt.Errorf("%s: %w", be.name, err)
		}
	}
	l, err := b.lxc(ctx, "lxc-debian", root)
	if err != nil {
		b.res.skip(sc, "bytes per zone, overlay", "lxc", oneLine(err.Error()))
		return ctx.Err()
	}
	var per []float64
	for i := 0; i < n && ctx.Err() == nil; i++ {
		name := fmt.Sprintf("disk-%d", i)
		if err := l.create(ctx, name); err != nil {
			return err
		}
		per = append(per, kib(diskBytes(filepath.Join(l.path, name))))
	}
	b.res.add(sc, "bytes per zone, overlay", "lxc", "KiB", per, "lxc-copy -s -B overlay clones of a base on the same root (config and overlay dirs)")
	if err := l.destroyAll(); err != nil {
		return err
	}
	return ctx.Err()
}

func (b *Bench) zonedDisk(ctx context.Context, sc, metric string, n int, change func(*api.CreateZoneRequest), dir string, fsDelta bool) error {
	z := b.zoned
	names := make([]string, 0, n)
	defer func() {
		for _, name := range names {
			_ = z.c.DestroyZone(context.Background(), name, true)
		}
	}()
	var per []float64
	for i := 0; i < n && ctx.Err() == nil; i++ {
		req := api.CreateZoneRequest{Name: fmt.Sprintf("disk-%d", i), Template: debianTemplate.Name}
		change(&req)
		before := fsUsed(dir)
		if _, err := z.c.CreateZone(ctx, req); err != nil {
			return err
		}
		names = append(names, req.Name)
		if fsDelta {
			per = append(per, kib(fsUsed(dir)-before))
		} else {
			per = append(per, kib(diskBytes(filepath.Join(dir, req.Name))))
		}
	}
	note := "each zone's own directory after create (its layer, nothing copied from the template)"
	if fsDelta {
		note = "growth of the pool filesystem's used bytes per create (a snapshot shares the template's extents)"
	}
	b.res.add(sc, metric, "zoned", "KiB", per, note)
	return nil
}

func kib(v uint64) float64 { return float64(v) / 1024 }

// diskBytes sums the blocks allocated to the files below dir, each inode
// once.
func diskBytes(dir string) uint64 {
	seen := map[uint64]bool{}
	var total uint64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) != nil || seen[st.Ino] {
			return nil
		}
		seen[st.Ino] = true
		total += uint64(st.Blocks) * 512
		return nil
	})
	return total
}

// fsUsed is the used bytes of the filesystem holding dir, after a sync so
// that what was just written is counted.
func fsUsed(dir string) uint64 {
	syscall.Sync()
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return 0
	}
	return (st.Blocks - st.Bfree) * uint64(st.Bsize)
}

// btrfsPool makes a btrfs filesystem on a loop file of the run's own,
// adds it to zoned as a pool, and copies the template into it once with
// a zone made and destroyed first, so the copy is not counted in a zone.
func (b *Bench) btrfsPool(ctx context.Context) (func(*api.CreateZoneRequest), string, error) {
	z := b.zoned
	if !z.hasRoute(ctx, "/v1/storage/pools") {
		return nil, "", fmt.Errorf("needs zoned storage pools (issue #3): the daemon has no /v1/storage/pools")
	}
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		return nil, "", fmt.Errorf("needs mkfs.btrfs (Debian package btrfs-progs)")
	}
	img := filepath.Join(b.workDir, "btrfs.img")
	mnt := filepath.Join(b.workDir, "btrfs")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		return nil, "", err
	}
	b.onCleanup("remove "+img, func() error { return os.Remove(img) })
	if err := os.Truncate(img, 8<<30); err != nil {
		return nil, "", err
	}
	if out, err := exec.CommandContext(ctx, "mkfs.btrfs", "-q", "-f", img).CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("mkfs.btrfs: %v: %s", err, out)
	}
	if err := os.MkdirAll(mnt, 0o711); err != nil {
		return nil, "", err
	}
	if out, err := exec.CommandContext(ctx, "mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("mount btrfs: %v: %s", err, out)
	}
	b.onCleanup("unmount "+mnt, func() error { return syscall.Unmount(mnt, 0) })
	const pool = "bench-btrfs"
	if _, err := z.c.CreatePool(ctx, api.CreatePoolRequest{Name: pool, Path: mnt, Backend: "btrfs"}); err != nil {
		return nil, "", err
	}
	b.onCleanup("delete pool "+pool, func() error { return z.c.DeletePool(context.Background(), pool) })
	change := func(r *api.CreateZoneRequest) { r.Pool = pool }
	warm := api.CreateZoneRequest{Name: "disk-warm", Template: debianTemplate.Name}
	change(&warm)
	if _, err := z.c.CreateZone(ctx, warm); err != nil {
		return nil, "", err
	}
	if err := z.c.DestroyZone(ctx, warm.Name, true); err != nil {
		return nil, "", err
	}
	return change, mnt, nil
}

package main

import (
	"context"
	"fmt"
	"io/fs"
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
}

func (b *Bench) diskBackends() []diskBackend {
	return []diskBackend{
		{name: "overlay", prepare: func(context.Context) (func(*api.CreateZoneRequest), string, error) {
			return func(*api.CreateZoneRequest) {}, filepath.Join(b.zoned.dataDir, "zones"), nil
		}},
		{name: "btrfs", prepare: func(ctx context.Context) (func(*api.CreateZoneRequest), string, error) {
			if !b.zoned.hasRoute(ctx, "/v1/pools") {
				return nil, "", fmt.Errorf("needs zoned storage pools (issue #3): the daemon has no /v1/pools")
			}
			return nil, "", fmt.Errorf("storage pools are there but this benchmark does not create a btrfs pool yet: add it to diskBackends")
		}},
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
		if err := b.zonedDisk(ctx, sc, metric, n, change, dir); err != nil {
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

func (b *Bench) zonedDisk(ctx context.Context, sc, metric string, n int, change func(*api.CreateZoneRequest), dir string) error {
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
		if _, err := z.c.CreateZone(ctx, req); err != nil {
			return err
		}
		names = append(names, req.Name)
		per = append(per, kib(diskBytes(filepath.Join(dir, req.Name))))
	}
	b.res.add(sc, metric, "zoned", "KiB", per, "each zone's own directory after create (its layer, nothing copied from the template)")
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

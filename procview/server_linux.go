package procview

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Layout of the view's state directory (DATA/procview):
//
//	zones/NAME.json   Config of each running zone, written by the daemon
//	mnt/              the FUSE mount: mnt/NAME/{meminfo,cpuinfo,...}
//	viewfs.pid        the server's PID
//	seccomp.sock      where zones' processes hand over their seccomp
//	                  listeners (agent_linux.go)
func zonesDir(state string) string { return filepath.Join(state, "zones") }

// MountDir is where the view of every zone is mounted.
func MountDir(state string) string { return filepath.Join(state, "mnt") }

func pidFile(state string) string { return filepath.Join(state, "viewfs.pid") }

// ZoneDir is the directory of zone's files in the view.
func ZoneDir(state, zone string) string { return filepath.Join(MountDir(state), zone) }

type rootNode struct {
	fusefs.Inode
	state string
	inos  *inoTable
	snaps *snapper
}

// inoTable gives each zone directory and file of the view an inode
// number of its own that stays the same across lookups. With a new number
// at each lookup (go-fuse's default), the kernel, which looks a name up
// again on every use (no entry caching), drops the dentry it had: a mount
// of a view file made from it (a zone's bind mount, open_tree in
// Reattach) is then of a deleted file, and moving it fails with ENOENT.
type inoTable struct {
	mu   sync.Mutex
	next uint64
	ino  map[string]uint64
}

func (t *inoTable) of(key string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n, ok := t.ino[key]; ok {
		return n
	}
	if t.ino == nil {
		t.ino, t.next = map[string]uint64{}, 2 // 1 is the root's
	}
	t.ino[key] = t.next
	t.next++
	return t.ino[key]
}

type zoneNode struct {
	fusefs.Inode
	state, zone string
	inos        *inoTable
	snaps       *snapper
}

type fileNode struct {
	fusefs.Inode
	state, zone, name string
	snaps             *snapper
}

var (
	_ fusefs.NodeLookuper  = (*rootNode)(nil)
	_ fusefs.NodeReaddirer = (*rootNode)(nil)
	_ fusefs.NodeLookuper  = (*zoneNode)(nil)
	_ fusefs.NodeReaddirer = (*zoneNode)(nil)
	_ fusefs.NodeOpener    = (*fileNode)(nil)
	_ fusefs.NodeGetattrer = (*fileNode)(nil)
	_ fusefs.FileReader    = (*fileHandle)(nil)
	_ fusefs.NodeGetattrer = (*zoneNode)(nil)
)

// configPath is where the daemon keeps zone's Config.
func configPath(state, zone string) string {
	return filepath.Join(zonesDir(state), zone+".json")
}

func (r *rootNode) configPath(zone string) string { return configPath(r.state, zone) }

func (r *rootNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if strings.ContainsAny(name, "/.") {
		return nil, syscall.ENOENT
	}
	if _, err := os.Stat(r.configPath(name)); err != nil {
		return nil, syscall.ENOENT
	}
	out.Mode = fuse.S_IFDIR | 0o555
	return r.NewInode(ctx, &zoneNode{state: r.state, zone: name, inos: r.inos, snaps: r.snaps}, fusefs.StableAttr{Mode: fuse.S_IFDIR, Ino: r.inos.of(name)}), 0
}

func (r *rootNode) Readdir(context.Context) (fusefs.DirStream, syscall.Errno) {
	ents, _ := os.ReadDir(zonesDir(r.state))
	var out []fuse.DirEntry
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			out = append(out, fuse.DirEntry{Name: name, Mode: fuse.S_IFDIR})
		}
	}
	return fusefs.NewListDirStream(out), 0
}

func (z *zoneNode) Getattr(_ context.Context, _ fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = fuse.S_IFDIR | 0o555
	return 0
}

func (z *zoneNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if _, ok := Files[name]; !ok {
		return nil, syscall.ENOENT
	}
	// The entry carries the size the kernel reads up to (see render).
	f := &fileNode{state: z.state, zone: z.zone, name: name, snaps: z.snaps}
	data, errno := f.render(ctx)
	if errno != 0 {
		return nil, errno
	}
	out.Mode = fuse.S_IFREG | 0o444
	out.Size = uint64(len(data))
	return z.NewInode(ctx, f, fusefs.StableAttr{Mode: fuse.S_IFREG, Ino: z.inos.of(z.zone + "/" + name)}), 0
}

func (z *zoneNode) Readdir(context.Context) (fusefs.DirStream, syscall.Errno) {
	names := make([]string, 0, len(Files))
	for n := range Files {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]fuse.DirEntry, 0, len(names))
	for _, n := range names {
		out = append(out, fuse.DirEntry{Name: n, Mode: fuse.S_IFREG})
	}
	return fusefs.NewListDirStream(out), 0
}

// render returns the file's contents now and remembers their length for
// Getattr. The kernel reads these files through its page cache up to the
// size Getattr or Lookup last said: sendfile(2), which busybox's cat uses,
// ignores direct I/O, and with procfs's size 0 would read nothing. A file
// bind-mounted into a zone is looked up once, so a reader that neither
// stats it nor reads it with read(2) would see it cut at the length of an
// older render; Open tells the kernel each new length.
func (f *fileNode) render(ctx context.Context) ([]byte, syscall.Errno) {
	cfg, err := readConfig(filepath.Join(zonesDir(f.state), f.zone+".json"))
	if err != nil {
		return nil, syscall.ENOENT
	}
	caller := 0
	if fc, ok := ctx.(*fuse.Context); ok {
		caller = int(fc.Caller.Pid)
	}
	snap, err := f.snaps.snap(f.zone, cfg, caller)
	if err != nil {
		return nil, syscall.EIO
	}
	data, err := Render(f.name, snap)
	if err != nil {
		return nil, syscall.EIO
	}
	return data, 0
}

func (f *fileNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	var data []byte
	if h, ok := fh.(*fileHandle); ok {
		// fstat of an open file: the size of what it reads.
		data = h.data
	} else {
		var errno syscall.Errno
		if data, errno = f.render(ctx); errno != 0 {
			return errno
		}
	}
	out.Mode = fuse.S_IFREG | 0o444
	out.Size = uint64(len(data))
	out.SetTimeout(0)
	return 0
}

// Open takes one snapshot per open, so one read sequence sees one
// consistent file, and a limit changed a moment ago shows at once; without
// FOPEN_KEEP_CACHE the kernel drops the page cache of the previous open.
func (f *fileNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EACCES
	}
	data, errno := f.render(ctx)
	if errno != 0 {
		return nil, 0, errno
	}
	// A file bind-mounted into a zone is never looked up again, so the
	// kernel's size for it is the one of an old render, and sendfile(2)
	// reads no further (see render). Storing this render in the kernel's
	// cache raises that size to the new length; a shorter render needs
	// nothing, as the kernel shrinks the size on the short read. The
	// cache itself is dropped when the open completes (no
	// FOPEN_KEEP_CACHE), so reads still come from this handle. Best
	// effort: a kernel without the notification keeps the old behaviour.
	_ = f.EmbeddedInode().WriteCache(0, data)
	return &fileHandle{data: data}, 0, 0
}

type fileHandle struct{ data []byte }

func (h *fileHandle) Read(_ context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(h.data)) {
		return fuse.ReadResultData(nil), 0
	}
	end := off + int64(len(dest))
	if end > int64(len(h.data)) {
		end = int64(len(h.data))
	}
	return fuse.ReadResultData(h.data[off:end]), 0
}

// Serve mounts the view of state's zones and serves it until SIGTERM or
// SIGINT, then unmounts. It is `zoned viewfs`'s body.
func Serve(state string, log *slog.Logger) error {
	mnt := MountDir(state)
	// A server that died leaves its mount behind, answering ENOTCONN,
	// and so does each one started on top of it that died too: they go
	// first, or even the stat of MkdirAll fails on them.
	for i := 0; i < 16 && unix.Unmount(mnt, unix.MNT_DETACH) == nil; i++ {
	}
	for _, d := range []string{state, zonesDir(state), mnt} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	srv, err := mountView(state)
	if err != nil {
		return err
	}
	// Listening before the PID file says the server serves: a zone that
	// starts then hands over its listener at once.
	agent, err := startAgent(state, log)
	if err != nil {
		_ = srv.Unmount()
		return err
	}
	defer agent.close()
	if err := os.WriteFile(pidFile(state), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		_ = srv.Unmount()
		return err
	}
	log.Info("zone view serving", "mount", mnt)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		if err := srv.Unmount(); err != nil {
			_ = unix.Unmount(mnt, unix.MNT_DETACH)
		}
	}()
	srv.Wait()
	if b, err := os.ReadFile(pidFile(state)); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		_ = os.Remove(pidFile(state))
	}
	return nil
}

// mountView mounts the view of state's zones on MountDir(state) and
// serves it until it is unmounted.
func mountView(state string) (*fuse.Server, error) {
	return mountViewWith(state, newSnapper())
}

func mountViewWith(state string, snaps *snapper) (*fuse.Server, error) {
	mnt := MountDir(state)
	zero := time.Duration(0)
	srv, err := fusefs.Mount(mnt, &rootNode{state: state, inos: &inoTable{}, snaps: snaps}, &fusefs.Options{
		// Zones come and go and their files change: no caching of
		// names or attributes.
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		MountOptions: fuse.MountOptions{
			// Zones' users, in their own user namespaces, read it.
			AllowOther:        true,
			FsName:            "zoned-view",
			Name:              "zonedview",
			DirectMountStrict: true,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("mount view on %s: %w", mnt, err)
	}
	return srv, nil
}

// errNotServing says no view server answers.
var errNotServing = errors.New("zone view is not being served")

// Serving returns the PID of the server of state's view when it runs and
// its mount answers.
func Serving(state string) (int, error) {
	b, err := os.ReadFile(pidFile(state))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, errNotServing
		}
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || unix.Kill(pid, 0) != nil {
		return 0, errNotServing
	}
	var st unix.Statfs_t
	if err := unix.Statfs(MountDir(state), &st); err != nil || st.Type != unix.FUSE_SUPER_MAGIC {
		return 0, errNotServing
	}
	return pid, nil
}

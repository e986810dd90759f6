package procview

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/quota"
)

// statfs answers statfs(path, buf) for a zone whose disk quota the
// kernel's statfs does not report (Config.Disk). The server runs the call
// as the caller would, from the caller's root and working directory; when
// the answer is about the zone's root filesystem, it is cut to the
// quota's size and use, so df inside the zone shows the plan. Any other
// answer, and any error, is left to the kernel (CONTINUE): the caller
// then gets exactly what it would have got without zoned, errors
// included. It runs in a goroutine of its own, so a statfs that hangs
// (a dead network mount in the zone) holds up this caller only; lfd is
// the agent's own copy of the listener, closed here.
func (a *agent) statfs(lfd int, zone string, req seccompNotif) {
	defer a.statfsEnd(zone)
	defer unix.Close(lfd)
	resp := seccompNotifResp{ID: req.ID, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	if st, ok, err := a.zoneStatfs(lfd, zone, &req); err != nil {
		a.log.Debug("seccomp agent: statfs left to the kernel", "zone", zone, "pid", req.Pid, "err", err)
	} else if ok {
		raw := unsafe.Slice((*byte)(unsafe.Pointer(&st)), unsafe.Sizeof(st))
		if err := writeCaller(lfd, &req, req.Data.Args[1], raw); err != nil {
			resp = seccompNotifResp{ID: req.ID, Error: -int32(unix.EFAULT)}
		} else {
			resp = seccompNotifResp{ID: req.ID}
		}
	}
	_ = ioctlPtr(lfd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp))
}

// Each statfs answer in progress holds an OS thread of the server, and
// one on a mount that hangs holds it until the mount answers. So that a
// zone cannot make the server run out of threads (Go ends a process
// past 10000), or keep other zones' answers waiting, at most
// statfsPerZone answers run for a zone and statfsInAll for all zones;
// past those, statfs goes to the kernel and shows the pool.
const (
	statfsPerZone = 8
	statfsInAll   = 64
)

// statfsBegin takes a place for one of zone's statfs answers, if there
// is one.
func (a *agent) statfsBegin(zone string) bool {
	a.statfsMu.Lock()
	defer a.statfsMu.Unlock()
	all := 0
	for _, n := range a.statfsBusy {
		all += n
	}
	if a.statfsBusy[zone] >= statfsPerZone || all >= statfsInAll {
		return false
	}
	a.statfsBusy[zone]++
	return true
}

func (a *agent) statfsEnd(zone string) {
	a.statfsMu.Lock()
	defer a.statfsMu.Unlock()
	if a.statfsBusy[zone]--; a.statfsBusy[zone] <= 0 {
		delete(a.statfsBusy, zone)
	}
}

// zoneStatfs returns the answer to the caller's statfs with the zone's
// quota applied, and whether the call was about the zone's root
// filesystem at all.
func (a *agent) zoneStatfs(lfd int, zone string, req *seccompNotif) (unix.Statfs_t, bool, error) {
	var st unix.Statfs_t
	cfg, err := readConfig(configPath(a.state, zone))
	if err != nil {
		return st, false, err
	}
	if cfg.Disk == nil || cfg.InitPID <= 0 {
		return st, false, nil
	}
	path, err := readCallerString(lfd, req, req.Data.Args[0])
	if err != nil {
		return st, false, err
	}
	if st, err = statfsAs(int(req.Pid), path); err != nil {
		return st, false, err
	}
	// The zone's root filesystem, as its init sees it. btrfs mixes the
	// subvolume into f_fsid, so the zone's snapshot is told from other
	// subvolumes of the same filesystem mounted in the zone.
	var root unix.Statfs_t
	if err := unix.Statfs(fmt.Sprintf("/proc/%d/root", cfg.InitPID), &root); err != nil {
		return st, false, err
	}
	if st.Type != root.Type || st.Fsid != root.Fsid {
		return st, false, nil
	}
	used, limit, err := quota.ReadBtrfsCounters(cfg.Disk.UsedFiles, cfg.Disk.LimitFile)
	if err != nil || limit <= 0 {
		return st, false, err
	}
	applyQuota(&st, used, limit)
	return st, true, nil
}

// applyQuota cuts a filesystem's statfs to a quota of limit bytes with
// used bytes used; free space stays at most what the filesystem has.
func applyQuota(st *unix.Statfs_t, used, limit int64) {
	unit := st.Bsize // statfs(2) counts blocks in f_bsize
	if unit <= 0 {
		return
	}
	blocks := uint64(limit / unit)
	usedBlocks := min(uint64((max(used, 0)+unit-1)/unit), blocks)
	free := blocks - usedBlocks
	st.Blocks = blocks
	st.Bfree = min(st.Bfree, free)
	st.Bavail = min(st.Bavail, free)
}

// statfsAs runs statfs(path) as process pid would: path resolved from its
// root directory and working directory, through its mounts (statfsIn),
// on a thread of its own. The thread is never given back to Go, which
// ends it with the goroutine, so no other goroutine ever runs on a thread
// whose filesystem context was changed.
func statfsAs(pid int, path string) (unix.Statfs_t, error) {
	type result struct {
		st  unix.Statfs_t
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		st, err := statfsIn(pid, path)
		done <- result{st, err}
	}()
	r := <-done
	return r.st, r.err
}

// statfsIn does statfsAs's work on the calling goroutine, which must be
// locked to its thread: the thread leaves the process's shared
// filesystem context (unshare(CLONE_FS)) and takes pid's root and working
// directory (chroot). Before it returns, it takes the server's root and
// directory back: Go does not end the process's main thread when a
// goroutine exits locked to it but parks it for good, and a thread left
// in a zone's root would pin that root's filesystem for the server's
// life (a destroyed zone's btrfs snapshot could then never be cleaned,
// and btrfs subvolume sync would wait for it forever).
func statfsIn(pid int, path string) (st unix.Statfs_t, err error) {
	open := func(p string) (int, error) {
		return unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	var home, wd, root, cwd int
	for _, o := range []struct {
		fd   *int
		path string
	}{{&home, "/"}, {&wd, "."}, {&root, fmt.Sprintf("/proc/%d/root", pid)}, {&cwd, fmt.Sprintf("/proc/%d/cwd", pid)}} {
		if *o.fd, err = open(o.path); err != nil {
			return st, err
		}
		defer unix.Close(*o.fd)
	}
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return st, fmt.Errorf("unshare fs: %w", err)
	}
	defer func() {
		if unix.Fchdir(home) == nil && unix.Chroot(".") == nil {
			_ = unix.Fchdir(wd)
		}
	}()
	if err := unix.Fchdir(root); err != nil {
		return st, err
	}
	if err := unix.Chroot("."); err != nil {
		return st, err
	}
	if err := unix.Fchdir(cwd); err != nil {
		return st, err
	}
	err = unix.Statfs(path, &st)
	return st, err
}

// readCallerString reads the NUL-terminated string at addr in the calling
// process's memory, at most PATH_MAX bytes, page by page so that a string
// ending just before an unmapped page reads.
func readCallerString(lfd int, req *seccompNotif, addr uint64) (string, error) {
	mem, err := callerMem(lfd, req, os.O_RDONLY)
	if err != nil {
		return "", err
	}
	defer mem.Close()
	const pathMax, page = 4096, 4096
	var out []byte
	buf := make([]byte, page)
	for len(out) < pathMax {
		if addr > 1<<62 {
			return "", unix.EFAULT
		}
		n := page - int(addr%page)
		got, err := unix.Pread(int(mem.Fd()), buf[:n], int64(addr))
		if got <= 0 {
			if err == nil {
				err = unix.EFAULT
			}
			return "", err
		}
		if i := bytes.IndexByte(buf[:got], 0); i >= 0 {
			return string(append(out, buf[:i]...)), nil
		}
		out = append(out, buf[:got]...)
		addr += uint64(got)
	}
	return "", errors.New("path longer than PATH_MAX")
}

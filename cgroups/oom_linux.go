package cgroups

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// OOMWatch watches one group for OOM kills. It costs one file
// descriptor and one goroutine parked in the runtime's poller per zone:
// no polling timers.
type OOMWatch struct {
	f    *os.File
	keep *os.File // v1: memory.oom_control, held while registered
	done chan struct{}
}

// WatchOOM calls fn each time the OOM killer kills in the group at path,
// with the number of new kills and the group's total, until Stop (on v1
// also until the group is removed; on v2 the inotify watch holds the
// removed file, so the caller must Stop it). On v2 it watches memory.events with inotify (the
// kernel notifies the file on every change); on v1 it registers an
// eventfd for memory.oom_control through cgroup.event_control, which the
// kernel signals when the group hits OOM and when the group is removed.
// Either way the kill count itself is read from the group's counters, so
// a wake-up without a kill reports nothing.
func WatchOOM(path string, fn func(newKills, total uint64)) (*OOMWatch, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	layout.once.Do(loadLayout)
	w := &OOMWatch{done: make(chan struct{})}
	var count func() (uint64, error)
	switch layout.mode {
	case "v2":
		dir := filepath.Join(root, path)
		fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("watch OOM kills of cgroup %s: inotify: %w", path, err)
		}
		if _, err := unix.InotifyAddWatch(fd, filepath.Join(dir, "memory.events"), unix.IN_MODIFY); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("watch OOM kills of cgroup %s: watch memory.events: %w", path, err)
		}
		w.f = os.NewFile(uintptr(fd), "inotify:"+path)
		count = func() (uint64, error) {
			ev, err := readKeyed(dir, "memory.events")
			return ev["oom_kill"], err
		}
	case "v1":
		if layout.err != nil {
			return nil, layout.err
		}
		dir := filepath.Join(layout.bases["memory"], path)
		ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
		if err != nil {
			return nil, fmt.Errorf("watch OOM kills of cgroup %s: %w", path, err)
		}
		efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			ctl.Close()
			return nil, fmt.Errorf("watch OOM kills of cgroup %s: eventfd: %w", path, err)
		}
		if err := writeFile(dir, "cgroup.event_control", fmt.Sprintf("%d %d", efd, ctl.Fd())); err != nil {
			ctl.Close()
			unix.Close(efd)
			return nil, fmt.Errorf("watch OOM kills of cgroup %s: %w", path, err)
		}
		w.f, w.keep = os.NewFile(uintptr(efd), "eventfd:"+path), ctl
		count = func() (uint64, error) {
			ev, err := readKeyed(dir, "memory.oom_control")
			return ev["oom_kill"], err
		}
	default:
		return nil, fmt.Errorf("watch OOM kills of cgroup %s: no cgroup hierarchy: %w", path, errdefs.ErrUnsupported)
	}
	last, err := count()
	if err != nil {
		w.close()
		return nil, fmt.Errorf("watch OOM kills of cgroup %s: %w", path, err)
	}
	go func() {
		defer close(w.done)
		buf := make([]byte, 4096)
		for {
			n, err := w.f.Read(buf)
			if err != nil {
				return // closed by Stop
			}
			// The kernel notifies when the group goes into OOM, before
			// the killer has picked and counted its victim: give the
			// count a moment to rise.
			total, err := count()
			for delay := time.Millisecond; err == nil && total <= last && delay < time.Second; delay *= 2 {
				time.Sleep(delay)
				total, err = count()
			}
			if err != nil {
				return // the group is gone
			}
			if total > last {
				fn(total-last, total)
				last = total
			}
			if n >= 8 && w.keep == nil {
				// inotify: the watch is gone with the group.
				if binary.NativeEndian.Uint32(buf[4:8])&unix.IN_IGNORED != 0 {
					return
				}
			}
		}
	}()
	return w, nil
}

func (w *OOMWatch) close() {
	w.f.Close()
	if w.keep != nil {
		w.keep.Close()
	}
}

// Stop ends the watch and waits for its goroutine; fn is not called
// after Stop returns.
func (w *OOMWatch) Stop() {
	w.close()
	<-w.done
}

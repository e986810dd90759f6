package procview

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/internal/atomicfile"
)

// SetZone tells the view about a running zone (or its new init).
func SetZone(state, zone string, cfg Config) error {
	if err := os.MkdirAll(zonesDir(state), 0o711); err != nil {
		return err
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	// A daemon adopting a thousand running zones tells the view about
	// each again: what it already has needs no synced rewrite.
	if old, err := os.ReadFile(configPath(state, zone)); err == nil && bytes.Equal(old, b) {
		return nil
	}
	return atomicfile.WriteFile(configPath(state, zone), b, 0o644)
}

// RemoveZone forgets a zone and returns how many the view still serves.
func RemoveZone(state, zone string) (int, error) {
	err := os.Remove(configPath(state, zone))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	return Zones(state), nil
}

// DropZone forgets a zone, if the view has it.
func DropZone(state, zone string) error {
	if err := os.Remove(configPath(state, zone)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Zones is how many zones the view serves.
func Zones(state string) int {
	left, _ := filepath.Glob(filepath.Join(zonesDir(state), "*.json"))
	return len(left)
}

// Start runs `exe viewfs -state STATE` unless a server is serving, detached
// from the caller (its own session, not waited for by anyone who dies with
// the daemon), and waits until its mount answers. place moves the new
// server into a cgroup of its own before it mounts anything that matters.
// started says whether this call started it: zones bound to an earlier
// server's mount then need Reattach.
func Start(state, exe string, place func(pid int) error) (pid int, started bool, err error) {
	if pid, err := Serving(state); err == nil {
		return pid, false, nil
	}
	pid, err = start(state, exe, place)
	return pid, err == nil, err
}

func start(state, exe string, place func(pid int) error) (int, error) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return 0, fmt.Errorf("no /dev/fuse (CONFIG_FUSE_FS): %w", err)
	}
	if err := os.MkdirAll(state, 0o711); err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(filepath.Join(state, "viewfs.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := exec.Command(exe, "viewfs", "-state", state)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start zone view server: %w", err)
	}
	pid := cmd.Process.Pid
	exited := make(chan struct{})
	// Reap it if it ends while this process lives; if this process dies
	// first, init does.
	go func() { _ = cmd.Wait(); close(exited) }()
	if place != nil {
		if err := place(pid); err != nil {
			_ = cmd.Process.Kill()
			return 0, fmt.Errorf("move zone view server to its cgroup: %w", err)
		}
	}
	for i := 0; i < 200; i++ {
		if p, err := Serving(state); err == nil && p == pid {
			return pid, nil
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(state, "viewfs.log"))
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			return 0, fmt.Errorf("zone view server exited: %s", lines[len(lines)-1])
		case <-time.After(50 * time.Millisecond):
		}
	}
	_ = cmd.Process.Kill()
	return 0, fmt.Errorf("zone view server did not mount %s within 10s", MountDir(state))
}

// Stop ends the view server of state, if one runs, and leaves no mount.
func Stop(state string) error {
	b, err := os.ReadFile(pidFile(state))
	if err == nil {
		var pid int
		// The PID may have been reused since: only a viewfs is ours.
		if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 0 && isViewfs(pid) && unix.Kill(pid, syscall.SIGTERM) == nil {
			for i := 0; i < 200 && unix.Kill(pid, 0) == nil; i++ {
				time.Sleep(50 * time.Millisecond)
			}
			if unix.Kill(pid, 0) == nil {
				_ = unix.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	_ = os.Remove(pidFile(state))
	if err := unix.Unmount(MountDir(state), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount zone view: %w", err)
	}
	return nil
}

func isViewfs(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), "\x00viewfs\x00")
}

package namespaces

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// initMain is the "zoned-init" role: PID 1 of the zone's new namespaces.
// It never returns: it execs the zone's init, or reports its error to
// Spawn over the socket pair and exits.
func initMain() {
	// The sync socket must close on the final execve, so that Spawn sees
	// EOF exactly when the exec succeeded.
	unix.CloseOnExec(childSyncFd)
	sock := os.NewFile(childSyncFd, "sync")
	enc := json.NewEncoder(sock)
	err := runInit(sock, enc)
	enc.Encode(syncMsg{Type: "error", Error: err.Error()})
	os.Exit(1)
}

func runInit(sock *os.File, enc *json.Encoder) error {
	var cfg InitConfig
	if err := readConfig(&cfg); err != nil {
		return err
	}
	fds, err := recvGo(sock)
	if err != nil {
		return err
	}
	cfg.rootFd, cfg.devicesFd = -1, -1
	if fd, ok := fds[goFdRoot]; ok {
		cfg.rootFd = fd
	}
	if fd, ok := fds[goFdDevices]; ok {
		cfg.devicesFd = fd
	}
	if cfg.UserNS && cfg.rootFd < 0 {
		return fmt.Errorf("wait for parent: no root mount descriptor came with go")
	}
	// The cgroup namespace is created only now, after Setup moved us into
	// the zone's cgroup: its root is the cgroup we are in when unsharing,
	// so inside the zone /proc/self/cgroup shows "/" and the zone cannot
	// see or name the host's hierarchy above it.
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("unshare cgroup namespace: %w", err)
	}
	if cfg.UserNS {
		// Before anything of the zone runs, while this process still holds
		// CAP_SYS_RESOURCE in the zone's user namespace (limits_linux.go).
		if err := cfg.UserNSLimits.apply(); err != nil {
			return err
		}
	}
	spec := cfg.Spec
	root := cfg.RootMount.Destination
	if err := setupRootfs(&cfg); err != nil {
		return err
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("sethostname %q: %w", spec.Hostname, err)
		}
	}
	if err := loopbackUp(); err != nil {
		return err
	}
	if err := pivotRoot(root); err != nil {
		return err
	}
	var keep []string
	if spec.Process.Capabilities != nil {
		keep = spec.Process.Capabilities.Bounding
	} else {
		keep = DefaultCapabilities()
	}
	if cfg.UserNS {
		keep = UserNSCapabilities(keep)
	}
	if err := dropBoundingSet(keep); err != nil {
		return err
	}
	env := withContainerEnv(spec.Process.Env)
	cwd := spec.Process.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("chdir %s: %w", cwd, err)
	}
	path, err := lookPath(spec.Process.Args[0], env)
	if err != nil {
		return err
	}
	if spec.Linux != nil {
		listener, err := installSeccomp(spec.Linux.Seccomp)
		if err != nil {
			return err
		}
		if listener >= 0 {
			msg, _ := json.Marshal(syncMsg{Type: "seccomp"})
			if err := sendListener(sock, append(msg, '\n'), listener); err != nil {
				return err
			}
		}
	}
	// Nothing but stdio may reach the zone's program: not the config
	// pipe, the root mount's descriptor or the seccomp listener, and
	// least of all a descriptor the daemon itself inherited.
	if err := CloseOnExecFrom(childConfigFd); err != nil {
		return err
	}
	if err := enc.Encode(syncMsg{Type: "exec"}); err != nil {
		return fmt.Errorf("tell parent about exec: %w", err)
	}
	err = unix.Exec(path, spec.Process.Args, env)
	return fmt.Errorf("exec %s: %w", path, err)
}

// withContainerEnv makes sure container=zoned is in env.
func withContainerEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if !strings.HasPrefix(e, "container=") {
			out = append(out, e)
		}
	}
	return append(out, "container=zoned")
}

// lookPath resolves file like a shell would with PATH from env, inside
// the (already pivoted) zone root. The exec helper's look_path
// (nsenter/nsenter.c) does the same, with the same messages: change both.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		if err := checkExecutable(file); err != nil {
			return "", fmt.Errorf("%s: %w", file, err)
		}
		return file, nil
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			pathEnv = e[len("PATH="):]
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in PATH %s", file, pathEnv)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("is a directory")
	}
	if fi.Mode()&0o111 == 0 {
		return fmt.Errorf("not executable")
	}
	return nil
}

// loopbackUp sets IFF_UP on lo of the new network namespace; a zone
// without a working 127.0.0.1 breaks most services. An ioctl is enough
// here and needs no netlink socket.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring up lo: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: set flags: %w", err)
	}
	return nil
}

// pivotRoot makes root the zone's / and detaches the host's tree.
// pivot_root(".", ".") stacks the old root on top of the new one at the
// same place, so no directory for the old root is needed inside the zone
// (the zone's root may be read-only) and the old root can be detached
// right away.
func pivotRoot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("pivot_root: chdir %s: %w", root, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", root, err)
	}
	// Make sure the unmount of the old root cannot propagate anywhere.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("pivot_root: make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("pivot_root: detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("pivot_root: chdir /: %w", err)
	}
	return nil
}

// dropBoundingSet removes every capability not in keep from this thread's
// bounding set. execve then gives root only caps in the bounding set, and
// no later execve (setuid binaries, file caps) can regain the others.
func dropBoundingSet(keep []string) error {
	set, err := capSet(keep)
	if err != nil {
		return fmt.Errorf("capability bounding set: %w", err)
	}
	last, err := lastCap()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if set[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("drop capability %d from bounding set: %w", c, err)
		}
	}
	return nil
}

// lastCap is the highest capability the running kernel knows.
func lastCap() (int, error) {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("read cap_last_cap: %w", err)
	}
	var n int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%d", &n); err != nil {
		return 0, fmt.Errorf("parse cap_last_cap %q: %w", data, err)
	}
	return n, nil
}

//go:build linux

package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/zoned-project/zoned/api"
)

// TestEscapeInheritedDescriptors: a daemon started by a careless parent
// (a shell with redirections, a wrapper leaking a directory handle) holds
// descriptors without close-on-exec. None of them may reach a zone: with a
// directory of the host open in the zone's init, `touch /proc/1/fd/N/x`
// writes on the host (the CVE-2024-21626 class). The daemon gets a host
// directory at descriptor 10 and a host file at 251; neither the zone's
// init nor a command exec'd into the zone may hold them, and writing
// through /proc/PID/fd/N must not reach the host directory.
func TestEscapeInheritedDescriptors(t *testing.T) {
	requireRoot(t)
	hostDir := filepath.Join(t.TempDir(), "zoned-leak-"+randomSuffix())
	if err := os.Mkdir(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dirF, err := os.Open(hostDir)
	if err != nil {
		t.Fatal(err)
	}
	defer dirF.Close()
	hostFile := filepath.Join(filepath.Dir(hostDir), "leaked-file")
	fileF, err := os.OpenFile(hostFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer fileF.Close()
	d := startDaemon(t, inheriting(map[int]*os.File{10: dirF, 251: fileF}))
	// The premise: the daemon really holds both.
	for fd, want := range map[int]string{10: hostDir, 251: hostFile} {
		got, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", d.cmd.Process.Pid, fd))
		if err != nil || got != want {
			t.Fatalf("daemon's descriptor %d: %q, %v; want %s", fd, got, err, want)
		}
	}
	leaked := func(pid int) []string {
		var out []string
		for _, target := range []string{hostDir, hostFile} {
			if fd := holds(t, pid, target); fd >= 0 {
				out = append(out, fmt.Sprintf("%s at %d", target, fd))
			}
		}
		return out
	}
	d.inEachKindOfZone(t, "fds", api.CreateZoneRequest{}, func(t *testing.T, z *api.Zone) {
		if l := leaked(z.InitPID); len(l) > 0 {
			t.Errorf("the zone's init holds the daemon's inherited %v", l)
		}
		// A command exec'd into the zone lists its own and init's
		// descriptors as it sees them, and tries the attack on both.
		script := `for f in /proc/self/fd/* /proc/1/fd/*; do echo "$f -> $(readlink $f)"; done
for n in 10 251; do
  touch /proc/1/fd/$n/from-init 2>/dev/null && echo "wrote via init $n"
  touch /proc/self/fd/$n/from-exec 2>/dev/null && echo "wrote via exec $n"
done; true`
		out := d.mustExec(z.Name, "sh", "-c", script)
		for _, p := range []string{hostDir, hostFile} {
			if strings.Contains(out, p) {
				t.Errorf("a process in the zone holds %s:\n%s", p, out)
			}
		}
		if strings.Contains(out, "wrote via") {
			t.Errorf("the zone wrote through an inherited descriptor:\n%s", out)
		}
		if entries, _ := os.ReadDir(hostDir); len(entries) > 0 {
			t.Errorf("the zone wrote into the host directory: %v", entries)
		}
		// A long-running command, looked at from the host.
		r := d.exec(z.Name, "", "sh", "-c", "sleep 60 </dev/null >/dev/null 2>&1 & echo $!")
		if r.code != 0 {
			t.Fatalf("background sleep: %d %s", r.code, r.stderr)
		}
		inner, _ := strconv.Atoi(strings.TrimSpace(r.stdout))
		if pid := hostPidOf(t, z.InitPID, inner); pid > 0 {
			if l := leaked(pid); len(l) > 0 {
				t.Errorf("an exec'd command holds the daemon's inherited %v", l)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	// Every other child of the daemon inherits nothing either: the /proc
	// view's server, which outlives the daemon, is one.
	if b, err := os.ReadFile(filepath.Join(d.dataDir, "procview", "viewfs.pid")); err == nil {
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if l := leaked(pid); len(l) > 0 {
			t.Errorf("the /proc view server (pid %d) holds the daemon's inherited %v", pid, l)
		}
	} else {
		t.Logf("no /proc view server to look at: %v", err)
	}
}

// inEachKindOfZone runs f in a subtest for a privileged and for an
// unprivileged zone (the latter skipped where the kernel cannot run
// one), each created from req with its name PREFIX-priv or
// PREFIX-unpriv, and started.
func (d *daemon) inEachKindOfZone(t *testing.T, prefix string, req api.CreateZoneRequest, f func(t *testing.T, z *api.Zone)) {
	t.Helper()
	for _, privileged := range []bool{true, false} {
		req := req
		req.Privileged = privileged
		req.Name = prefix + "-unpriv"
		if privileged {
			req.Name = prefix + "-priv"
		}
		if req.Template == "" {
			req.Template = "busybox"
		}
		t.Run(req.Name, func(t *testing.T) {
			if !privileged {
				requireIDMappedOverlay(t)
			}
			ctx := ctxT(t)
			if _, err := d.c.CreateZone(ctx, req); err != nil {
				t.Fatal(err)
			}
			z, err := d.c.StartZone(ctx, req.Name)
			if err != nil {
				t.Fatalf("start: %v\n%s", err, d.logs())
			}
			f(t, z)
		})
	}
}

// holds returns the descriptor of pid that is the file at path, or -1.
func holds(t *testing.T, pid int, path string) int {
	t.Helper()
	var want syscall.Stat_t
	if err := syscall.Stat(path, &want); err != nil {
		t.Fatal(err)
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("list descriptors of %d: %v", pid, err)
	}
	for _, e := range entries {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join(dir, e.Name()), &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino {
			n, _ := strconv.Atoi(e.Name())
			return n
		}
	}
	return -1
}

// hostPidOf finds the host pid of the process whose pid in the zone of
// init is inner, among init's descendants' namespace pids (NSpid).
func hostPidOf(t *testing.T, init, inner int) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "NSpid:" && f[len(f)-1] == strconv.Itoa(inner) && sameNS(pid, init, "pid") {
				return pid
			}
		}
	}
	t.Errorf("no host process is pid %d in the zone of init %d", inner, init)
	return -1
}

func sameNS(a, b int, ns string) bool {
	x, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", a, ns))
	y, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", b, ns))
	return err1 == nil && err2 == nil && x == y
}

// TestSocketActivationStaysInDaemon: a socket systemd passes (LISTEN_FDS)
// is still what the daemon serves on once it marks its inherited
// descriptors close-on-exec, and it reaches no zone and no other child.
func TestSocketActivationStaysInDaemon(t *testing.T) {
	requireRoot(t)
	dir, err := os.MkdirTemp("", "zoned-it-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "zoned.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	// Closed after the daemon's cleanup (cleanups run last first): the
	// listener's Close removes the socket's name.
	t.Cleanup(func() { l.Close() })
	lf, err := l.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lf.Close() })
	// The daemon's own -socket (the last flag wins) is elsewhere: only
	// serving the passed socket answers startDaemon at sock.
	own := filepath.Join(dir, "own.sock")
	d := startDaemonWith(t, []string{"-socket", own}, inDataDir(dir), inheriting(map[int]*os.File{3: lf}), func(d *daemon) {
		// What systemd does: the socket at fd 3, the daemon's own pid in
		// LISTEN_PID (sh execs the daemon, which keeps the shell's pid).
		d.wrap = []string{"sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`}
	})
	if _, err := os.Stat(own); err == nil {
		t.Errorf("the daemon bound its own -socket %s despite LISTEN_FDS", own)
	}
	// Not lf.Fd(): that would put the socket, shared with the daemon,
	// in blocking mode, and the daemon's accept could not be stopped.
	fi, err := lf.Stat()
	if err != nil {
		t.Fatal(err)
	}
	want := fi.Sys().(*syscall.Stat_t)
	holdsSocket := func(pid int) bool {
		fdDir := fmt.Sprintf("/proc/%d/fd", pid)
		entries, _ := os.ReadDir(fdDir)
		for _, e := range entries {
			var st syscall.Stat_t
			if syscall.Stat(filepath.Join(fdDir, e.Name()), &st) == nil && st.Ino == want.Ino && st.Dev == want.Dev {
				return true
			}
		}
		return false
	}
	if !holdsSocket(d.cmd.Process.Pid) {
		t.Fatalf("the daemon does not hold the socket it was passed")
	}
	z := d.createStarted("act", api.Resources{})
	if holdsSocket(z.InitPID) {
		t.Errorf("the zone's init holds the daemon's activation socket")
	}
	if out := d.mustExec("act", "ls", "-l", "/proc/self/fd/"); strings.Contains(out, "socket:") {
		t.Errorf("an exec'd command holds a socket:\n%s", out)
	}
}

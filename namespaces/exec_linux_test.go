package namespaces

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/namespaces/nsenter"
)

// TestExecCommandErrors: the exec helper's C side reports a command that
// cannot start in the words the Go exec role used (lookPath,
// checkExecutable, chdir, execve), which clients and the API show, and
// the daemon marks them all ErrCommand.
func TestExecCommandErrors(t *testing.T) {
	z := startZone(t, sleepInit, nil)
	z.must(t, "sh", "-c", "printf x > /tmp/plain && printf 'x\\n' > /tmp/garbage && chmod 755 /tmp/garbage")
	for _, tc := range []struct {
		args []string
		env  []string
		cwd  string
		want string
	}{
		{args: []string{"/nope"}, want: "/nope: stat /nope: no such file or directory"},
		{args: []string{"/tmp"}, want: "/tmp: is a directory"},
		{args: []string{"/tmp/plain"}, want: "/tmp/plain: not executable"},
		{args: []string{"nope"}, env: []string{"PATH=/bin::/sbin"}, want: "nope: executable file not found in PATH /bin::/sbin"},
		{args: []string{"nope"}, env: []string{"HOME=/"}, want: "nope: executable file not found in PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		// PATH entries are joined and cleaned as filepath.Join does.
		{args: []string{"garbage"}, env: []string{"PATH=/bin:/usr/../tmp/"}, want: "exec /tmp/garbage: exec format error"},
		{args: []string{"true"}, cwd: "/nope", want: "chdir /nope: no such file or directory"},
	} {
		_, err := Exec(ExecOptions{InitPid: z.init.Pid, InitStartTime: z.init.StartTime, Args: tc.args, Env: tc.env, Cwd: tc.cwd, JoinCgroup: z.cg.add})
		if err == nil || !strings.Contains(err.Error(), ": "+tc.want+": ") || !errors.Is(err, ErrCommand) {
			t.Errorf("exec %v (env %v, cwd %q): %v, want %q marked ErrCommand", tc.args, tc.env, tc.cwd, err, tc.want)
		}
	}
	if _, err := Exec(ExecOptions{InitPid: z.init.Pid, InitStartTime: z.init.StartTime, Args: []string{"echo", "a\x00b"}}); !errors.Is(err, ErrCommand) {
		t.Errorf("argument with a NUL byte: %v", err)
	}
}

// TestExecProcessSetup: cwd, environment, argv and the bounding set reach
// the command as asked, and the helper's variable does not.
func TestExecProcessSetup(t *testing.T) {
	z := startZone(t, sleepInit, nil)
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	p, err := Exec(ExecOptions{
		InitPid: z.init.Pid, InitStartTime: z.init.StartTime,
		Args:         []string{"sh", "-c", `pwd; echo "$0|$1|$FOO"; env | grep -c _ZONED_NSENTER; grep CapBnd /proc/self/status; ls /proc/self/fd`, "zero", "one"},
		Env:          []string{"PATH=/usr/../bin", "FOO=bar"},
		Cwd:          "/tmp",
		Capabilities: []string{"CAP_CHOWN", "CAP_KILL"},
		Stdout:       outW, Stderr: outW, JoinCgroup: z.cg.add,
	})
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(outR)
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("exit %d %v: %s", code, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 4 {
		t.Fatalf("output:\n%s", out)
	}
	if lines[0] != "/tmp" || lines[1] != "zero|one|bar" || lines[2] != "0" {
		t.Errorf("cwd, argv, env:\n%s", out)
	}
	bnd, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(lines[3], "CapBnd:")), 16, 64)
	if want := uint64(1<<0 | 1<<5); err != nil || bnd != want {
		t.Errorf("bounding set %q, want %x", lines[3], want)
	}
	// Only stdio (and ls's own directory) is open in the command.
	if fds := strings.Fields(strings.Join(lines[4:], " ")); len(fds) > 4 {
		t.Errorf("descriptors open in the command: %v", fds)
	}
}

// TestEncodeExecConfig: the layout nsenter.c decodes (struct exec_config).
func TestEncodeExecConfig(t *testing.T) {
	sc := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"bpf"}, Action: specs.ActNotify}}, ListenerPath: "/run/l.sock"}
	b, err := encodeExecConfig(ExecOptions{Args: []string{"ls", "-l"}, TTY: true, Seccomp: sc}, []string{"CAP_CHOWN", "CAP_SYS_ADMIN"})
	if err != nil {
		t.Fatal(err)
	}
	ne := binary.NativeEndian
	if flags := ne.Uint32(b); flags != nsenter.ConfigTTY|nsenter.ConfigListener {
		t.Errorf("flags %d", flags)
	}
	if mask := ne.Uint64(b[4:]); mask != 1<<0|1<<21 {
		t.Errorf("cap mask %x", mask)
	}
	b = b[12:]
	field := func() string {
		n := ne.Uint32(b)
		s := string(b[4 : 4+n])
		b = b[4+n:]
		return s
	}
	if cwd := field(); cwd != "/" {
		t.Errorf("cwd %q", cwd)
	}
	prog, _, err := seccompProgram(sc)
	if err != nil {
		t.Fatal(err)
	}
	filter := field()
	if len(filter) != len(prog)*int(unix.SizeofSockFilter) {
		t.Fatalf("filter of %d bytes for %d instructions", len(filter), len(prog))
	}
	last := prog[len(prog)-1]
	f := []byte(filter[len(filter)-8:])
	if ne.Uint16(f) != last.Code || f[2] != last.Jt || f[3] != last.Jf || ne.Uint32(f[4:]) != last.K {
		t.Errorf("last instruction %x, want %+v", f, last)
	}
	var lists [][]string
	for range 2 {
		n := ne.Uint32(b)
		b = b[4:]
		var l []string
		for range n {
			l = append(l, field())
		}
		lists = append(lists, l)
	}
	if len(b) != 0 || !equalStrings(lists[0], []string{"ls", "-l"}) || !equalStrings(lists[1], []string{DefaultEnv[0]}) {
		t.Errorf("argv %q env %q, %d bytes left", lists[0], lists[1], len(b))
	}
}

// TestExecEntersCgroupByItself: with EnterCgroup the helper, and so the
// command, ends up in the zone's cgroup without the daemon moving it.
func TestExecEntersCgroupByItself(t *testing.T) {
	z := startZone(t, sleepInit, nil)
	enter := func() (*cgroups.Entry, error) {
		if filepath.Base(filepath.Dir(z.cg.dir)) == "pids" { // cgroup v1
			f, err := os.OpenFile(filepath.Join(z.cg.dir, "tasks"), os.O_WRONLY, 0)
			return &cgroups.Entry{Tasks: []*os.File{f}}, err
		}
		f, err := os.Open(z.cg.dir)
		return &cgroups.Entry{Dir: f}, err
	}
	p, err := Exec(ExecOptions{
		InitPid: z.init.Pid, InitStartTime: z.init.StartTime, Args: []string{"sleep", "1000"},
		EnterCgroup: enter,
		JoinCgroup:  func(int) error { t.Error("JoinCgroup called although EnterCgroup is set"); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), z.cgName()) {
		t.Errorf("command's cgroups, want %s:\n%s", z.cgName(), data)
	}
	p.Signal(unix.SIGKILL)
	if code, err := p.Wait(); err != nil || code != 128+9 {
		t.Errorf("wait: %d %v", code, err)
	}
}

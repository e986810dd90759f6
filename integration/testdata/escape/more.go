package main

// More attempts for integration/escape_more_test.go, one function each.
// Each returns nil ("OK"), an errno (printed by name) or prints its own
// answer and exits.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

var moreCommands = map[string]func(arg func(int) string) error{
	// io_uring runs its operations in kernel workers the seccomp filter
	// never sees; the ring itself is a large attack surface.
	"io_uring": func(func(int) string) error {
		var params [120]byte // struct io_uring_params
		fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params[0])), 0)
		if e != 0 {
			return e
		}
		unix.Close(int(fd))
		return nil
	},
	// userfaultfd FLAGS: kernel-mode fault handling stalls the kernel in
	// the middle of a copy, which turns kernel races into reliable
	// exploits. 1 is UFFD_USER_MODE_ONLY.
	"userfaultfd": func(arg func(int) string) error {
		flags, _ := strconv.Atoi(arg(2))
		fd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, uintptr(flags)|unix.O_CLOEXEC, 0, 0)
		if e != 0 {
			return e
		}
		unix.Close(int(fd))
		return nil
	},
	// Ways to name another process by its pid beyond ptrace and kill.
	"pidfd_open": func(arg func(int) string) error {
		fd, err := unix.PidfdOpen(atoi(arg(2)), 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	},
	"vm_read": func(arg func(int) string) error {
		buf := make([]byte, 8)
		local := []unix.Iovec{{Base: &buf[0], Len: 8}}
		remote := []unix.RemoteIovec{{Base: 0x400000, Len: 8}}
		_, err := unix.ProcessVMReadv(atoi(arg(2)), local, remote, 0)
		return err
	},
	"kcmp": func(arg func(int) string) error {
		// KCMP_VM (1): do two processes share an address space?
		_, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(os.Getpid()), uintptr(atoi(arg(2))), 1, 0, 0, 0)
		return errnoOrNil(e)
	},
	// The kernel log ring (host-wide, addresses, other tenants' messages).
	"syslog": func(func(int) string) error {
		buf := make([]byte, 4096)
		_, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
		return err
	},
	// openr PATH: open read-only without blocking and read once.
	"openr": func(arg func(int) string) error {
		fd, err := unix.Open(arg(2), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		buf := make([]byte, 512)
		n, err := unix.Read(fd, buf)
		if err != nil {
			return err
		}
		fmt.Printf("OK %q\n", buf[:n])
		os.Exit(0)
		return nil
	},
	// kallsyms prints ADDR if /proc/kallsyms shows any real kernel
	// address (a KASLR bypass), ZERO if all are hidden.
	"kallsyms": func(func(int) string) error {
		f, err := os.Open("/proc/kallsyms")
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for i := 0; sc.Scan() && i < 10000; i++ {
			if a := strings.Fields(sc.Text()); len(a) > 0 && strings.Trim(a[0], "0") != "" {
				fmt.Println("ADDR")
				os.Exit(0)
			}
		}
		fmt.Println("ZERO")
		os.Exit(0)
		return nil
	},
	// CPU and OOM priority over the host's processes.
	"sched_fifo": func(func(int) string) error {
		prio := int32(1)
		_, _, e := unix.Syscall(unix.SYS_SCHED_SETSCHEDULER, 0, 1 /* SCHED_FIFO */, uintptr(unsafe.Pointer(&prio)))
		return errnoOrNil(e)
	},
	"nice": func(func(int) string) error {
		return unix.Setpriority(unix.PRIO_PROCESS, 0, -20)
	},
	"oom_immune": func(func(int) string) error {
		return os.WriteFile("/proc/self/oom_score_adj", []byte("-1000"), 0)
	},
	"rlimit_raise": func(func(int) string) error {
		var r unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &r); err != nil {
			return err
		}
		if r.Max == unix.RLIM_INFINITY {
			fmt.Println("UNLIMITED")
			os.Exit(0)
		}
		r.Max++
		return unix.Setrlimit(unix.RLIMIT_MEMLOCK, &r)
	},
	// adjtimex with a tick of 0: the capability check comes first, so
	// EPERM means "not allowed" and EINVAL means the clock would have
	// been changed had the value been valid. Nothing changes either way.
	"adjtimex": func(func(int) string) error {
		tx := unix.Timex{Modes: unix.ADJ_TICK, Tick: 0}
		_, err := unix.Adjtimex(&tx)
		return err
	},
	// I/O ports of the host's hardware.
	"iopl": func(func(int) string) error {
		_, _, e := unix.Syscall(unix.SYS_IOPL, 3, 0, 0)
		return errnoOrNil(e)
	},
	// audit_user writes a user message into the host's audit log and
	// returns the kernel's answer from its acknowledgement.
	"audit_user": auditUser,
	// usermap OUTSIDE: make a child in a new user namespace and map its
	// root to OUTSIDE (an ID of the caller's namespace).
	"usermap": func(arg func(int) string) error {
		child := exec.Command("/proc/self/exe", "pause")
		child.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER, Pdeathsig: unix.SIGKILL}
		if err := child.Start(); err != nil {
			return err
		}
		defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
		return os.WriteFile(fmt.Sprintf("/proc/%d/uid_map", child.Process.Pid), []byte("0 "+arg(2)+" 1\n"), 0)
	},
	"pause": func(func(int) string) error {
		time.Sleep(30 * time.Second)
		return nil
	},
	// nestedproc DIR USERNS: in a child in new mount and PID namespaces
	// (and a new user namespace if USERNS is "userns"), mount a fresh
	// proc on DIR and open its core_pattern for writing.
	"nestedproc": func(arg func(int) string) error {
		child := exec.Command("/proc/self/exe", "mountproc", arg(2))
		child.Stdout, child.Stderr = os.Stdout, os.Stderr
		attr := &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID, Pdeathsig: unix.SIGKILL}
		if arg(3) == "userns" {
			attr.Cloneflags |= unix.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
		}
		child.SysProcAttr = attr
		if err := child.Run(); err != nil {
			fmt.Println("ERROR", err)
		}
		os.Exit(0)
		return nil
	},
	"mountproc": func(arg func(int) string) error {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make / private: %w", err)
		}
		if err := unix.Mount("proc", arg(2), "proc", 0, ""); err != nil {
			return err
		}
		fd, err := unix.Open(arg(2)+"/sys/kernel/core_pattern", unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd) // opened, never written
		}
		return err
	},
	// mountdata SRC TARGET FSTYPE DATA
	"mountdata": func(arg func(int) string) error {
		return unix.Mount(arg(2), arg(3), arg(4), 0, arg(5))
	},
	// chroot_breakout PATH: the classic escape from a chroot (chroot into
	// a subdirectory while holding the old root open, climb "..", chroot
	// there), then print the hostname file found and whether PATH (a host
	// path) exists.
	"chroot_breakout": func(arg func(int) string) error {
		old, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		_ = os.MkdirAll("/tmp/chroot-breakout", 0o755)
		if err := unix.Chroot("/tmp/chroot-breakout"); err != nil {
			return err
		}
		if err := unix.Fchdir(old); err != nil {
			return err
		}
		for i := 0; i < 256; i++ {
			if err := unix.Chdir(".."); err != nil {
				return err
			}
		}
		if err := unix.Chroot("."); err != nil {
			return err
		}
		host, _ := os.ReadFile("/etc/hostname")
		_, serr := os.Stat(arg(2))
		found := "absent"
		if serr == nil {
			found = "present"
		}
		fmt.Printf("%s %s\n", strings.TrimSpace(string(host)), found)
		os.Exit(0)
		return nil
	},
	// inmntns CMD ARGS...: run a command in a new mount namespace (of the
	// caller's user namespace), so what it unmounts stays unmounted only
	// there.
	"inmntns": func(arg func(int) string) error {
		arg(2)
		child := exec.Command(os.Args[2], os.Args[3:]...)
		child.Stdout, child.Stderr = os.Stdout, os.Stderr
		child.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
		if err := child.Run(); err != nil {
			fmt.Println("ERROR", err)
		}
		os.Exit(0)
		return nil
	},
	// ptys N: open /dev/ptmx up to N times, hold them for HOLD seconds
	// (arg 3, default 0), and print how many opened and what stopped it.
	"ptys": func(arg func(int) string) error {
		n := atoi(arg(2))
		hold := 0
		if len(os.Args) > 3 {
			hold = atoi(os.Args[3])
		}
		var fds []int
		var stop error
		for len(fds) < n {
			fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
			if err != nil {
				stop = err
				break
			}
			fds = append(fds, fd)
		}
		why := "limit"
		if e, ok := stop.(unix.Errno); ok {
			why = unix.ErrnoName(e)
		}
		fmt.Printf("%d %s\n", len(fds), why)
		if hold > 0 {
			os.Stdout.Close()
			time.Sleep(time.Duration(hold) * time.Second)
		}
		os.Exit(0)
		return nil
	},
	// tioccons: redirect the kernel's console output to a pty of the
	// zone's (TIOCCONS); only ever run in a zone.
	"tioccons": func(func(int) string) error {
		m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(m)
		if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
			return err
		}
		n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
		if err != nil {
			return err
		}
		s, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(s)
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(s), unix.TIOCCONS, 0)
		return errnoOrNil(e)
	},
	// uevents SECONDS: listen to the kernel's device events (what udev
	// hears) and print how many arrived; "READY" once listening.
	"uevents": func(arg func(int) string) error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
			return err
		}
		fmt.Println("READY")
		deadline := time.Now().Add(time.Duration(atoi(arg(2))) * time.Second)
		tv := unix.Timeval{Usec: 200000}
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		n := 0
		buf := make([]byte, 8192)
		for time.Now().Before(deadline) {
			if _, _, err := unix.Recvfrom(fd, buf, 0); err == nil {
				n++
			}
		}
		fmt.Println(n)
		os.Exit(0)
		return nil
	},
	// threads N: hold N OS threads at once (goroutines locked to their
	// thread, each asleep in a syscall); prints "OK" if all started.
	"threads": func(arg func(int) string) error {
		n := atoi(arg(2))
		started := make(chan struct{})
		for i := 0; i < n; i++ {
			go func() {
				runtime.LockOSThread()
				started <- struct{}{}
				ts := unix.Timespec{Sec: 10}
				_ = unix.Nanosleep(&ts, nil)
			}()
		}
		for i := 0; i < n; i++ {
			<-started
		}
		return nil
	},
	// deeptree DIR DEPTH: nest DEPTH directories of 200-byte names below
	// DIR, by descriptor, so the path grows far past PATH_MAX, with a
	// file "bottom" holding "deep" in the last.
	"deeptree": func(arg func(int) string) error {
		fd, err := unix.Open(arg(2), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		name := strings.Repeat("d", 200)
		for i := atoi(arg(3)); i > 0; i-- {
			if err := unix.Mkdirat(fd, name, 0o755); err != nil {
				return err
			}
			next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			unix.Close(fd)
			if err != nil {
				return err
			}
			fd = next
		}
		defer unix.Close(fd)
		f, err := unix.Openat(fd, "bottom", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return err
		}
		defer unix.Close(f)
		_, err = unix.Write(f, []byte("deep"))
		return err
	},
	// deepread DIR DEPTH: what deeptree's bottom file holds, read by
	// descriptor: "OK" and its contents.
	"deepread": func(arg func(int) string) error {
		fd, err := unix.Open(arg(2), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		name := strings.Repeat("d", 200)
		for i := atoi(arg(3)); i > 0; i-- {
			next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			unix.Close(fd)
			if err != nil {
				return err
			}
			fd = next
		}
		f, err := unix.Openat(fd, "bottom", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return err
		}
		buf := make([]byte, 64)
		n, err := unix.Read(f, buf)
		unix.Close(f)
		if err != nil {
			return err
		}
		fmt.Printf("OK %s\n", buf[:n])
		os.Exit(0)
		return nil
	},
	// connectpath PATH: a unix socket on the filesystem.
	"connectpath": func(arg func(int) string) error {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Connect(fd, &unix.SockaddrUnix{Name: arg(2)})
	},
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "not a number: %q\n", s)
		os.Exit(2)
	}
	return n
}

func errnoOrNil(e unix.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// auditUser sends AUDIT_USER (1005) with an acknowledgement requested and
// returns the error the kernel put in it.
func auditUser(func(int) string) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	payload := []byte("zoned escape test: a zone writes to the host's audit log\x00")
	var msg bytes.Buffer
	hdr := unix.NlMsghdr{Len: uint32(unix.NLMSG_HDRLEN + len(payload)), Type: 1005, Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK, Seq: 1}
	_ = binary.Write(&msg, binary.NativeEndian, hdr)
	msg.Write(payload)
	if err := unix.Sendto(fd, msg.Bytes(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	tv := unix.Timeval{Sec: 5}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
			if code := int32(binary.NativeEndian.Uint32(m.Data[:4])); code != 0 {
				return unix.Errno(-code)
			}
			return nil
		}
	}
	return fmt.Errorf("no acknowledgement")
}

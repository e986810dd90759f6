// Command escape is run inside a zone by the escape-attempt suite
// (integration/escape_test.go). Each subcommand makes one raw syscall a
// hostile zone root would make and prints "OK" or the errno's name, so the
// test can tell which defence stopped it: EPERM from seccomp where the
// bare kernel would answer EINVAL, EROFS from a read-only mount, ESRCH
// from a PID namespace. It is built static (CGO_ENABLED=0) so it runs in
// any zone root.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: escape CMD [ARGS]")
		os.Exit(2)
	}
	arg := func(i int) string {
		if len(os.Args) <= i {
			fmt.Fprintf(os.Stderr, "%s: missing argument %d\n", os.Args[1], i-1)
			os.Exit(2)
		}
		return os.Args[i]
	}
	var err error
	switch os.Args[1] {
	case "kexec":
		// Flag 0x80 is no kexec flag: the kernel answers EINVAL after
		// its CAP_SYS_BOOT check, so EPERM here comes from seccomp.
		err = errno(unix.Syscall6(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0x80, 0, 0))
	case "kexec_file":
		empty := []byte{0}
		err = errno(unix.Syscall6(unix.SYS_KEXEC_FILE_LOAD, ^uintptr(0), ^uintptr(0), 1, uintptr(unsafe.Pointer(&empty[0])), 0, 0))
	case "finit_module":
		f, oerr := os.Open(arg(2))
		if oerr != nil {
			err = oerr
			break
		}
		empty := []byte{0}
		err = errno(unix.Syscall(unix.SYS_FINIT_MODULE, f.Fd(), uintptr(unsafe.Pointer(&empty[0])), 0))
	case "shocker":
		err = shocker()
	case "openw":
		var fd int
		fd, err = unix.Open(arg(2), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd) // opened, never written: the probe changes nothing
		}
	case "read":
		var data []byte
		data, err = os.ReadFile(arg(2))
		if err == nil {
			fmt.Printf("OK %q\n", firstBytes(data, 64))
			return
		}
	case "mount":
		err = unix.Mount(arg(2), arg(3), arg(4), 0, "")
	case "mknod-block":
		maj, _ := strconv.Atoi(arg(3))
		min, _ := strconv.Atoi(arg(4))
		err = unix.Mknod(arg(2), unix.S_IFBLK|0o600, int(unix.Mkdev(uint32(maj), uint32(min))))
	case "ptrace":
		pid, _ := strconv.Atoi(arg(2))
		err = unix.PtraceSeize(pid)
	case "kill0":
		pid, _ := strconv.Atoi(arg(2))
		err = unix.Kill(pid, 0)
	case "shmmk":
		key, _ := strconv.Atoi(arg(2))
		_, err = unix.SysvShmGet(key, 4096, unix.IPC_CREAT|0o600)
	case "shmget":
		key, _ := strconv.Atoi(arg(2))
		_, err = unix.SysvShmGet(key, 0, 0)
	case "listen":
		// An abstract unix socket, then stay alive holding it.
		fd, serr := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if serr == nil {
			serr = unix.Bind(fd, &unix.SockaddrUnix{Name: "@" + arg(2)})
		}
		if serr == nil {
			serr = unix.Listen(fd, 1)
		}
		report(serr)
		if serr == nil {
			os.Stdout.Close()
			time.Sleep(time.Hour)
		}
		return
	case "connect":
		fd, serr := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if serr == nil {
			serr = unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + arg(2)})
		}
		err = serr
	case "x32":
		// getpid through the x32 ABI: the filter kills the process.
		unix.Syscall(0x40000000|unix.SYS_GETPID, 0, 0, 0)
	case "keyctl":
		err = errno(unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(0xfffffffd), 0))
	case "btrfs_subvol":
		// BTRFS_IOC_SUBVOL_CREATE in directory arg(2): a nested
		// subvolume would get a qgroup of its own, outside the zone's.
		var args struct {
			fd   int64
			name [4088]byte
		}
		copy(args.name[:], arg(3))
		var dir int
		if dir, err = unix.Open(arg(2), unix.O_RDONLY|unix.O_DIRECTORY, 0); err == nil {
			err = errno(unix.Syscall(unix.SYS_IOCTL, uintptr(dir), 0x5000940e, uintptr(unsafe.Pointer(&args))))
		}
	case "mkdirs":
		// mkdirs DIR N: a storm of N directories in DIR (a cgroup tree),
		// stopped at the first refusal; they are removed again.
		n, _ := strconv.Atoi(arg(3))
		made, serr := storm(n, func(i int) error { return unix.Mkdir(fmt.Sprintf("%s/storm%d", arg(2), i), 0o755) })
		for i := made - 1; i >= 0; i-- {
			unix.Rmdir(fmt.Sprintf("%s/storm%d", arg(2), i))
		}
		reportCount(serr, made)
		return
	case "mounts":
		// mounts FSTYPE N: N mounts of FSTYPE ("tmpfs", or "bind" of /tmp)
		// on /tmp, stacked, in a mount namespace of this process only, so
		// they vanish with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			report(err)
			return
		}
		unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
		n, _ := strconv.Atoi(arg(3))
		made, serr := storm(n, func(int) error {
			if arg(2) == "bind" {
				return unix.Mount("/tmp", "/tmp", "", unix.MS_BIND, "")
			}
			return unix.Mount(arg(2), "/tmp", arg(2), 0, "size=4k")
		})
		reportCount(serr, made)
		return
	case "unshare":
		// unshare KIND N: N namespaces of KIND ("mnt", "net", "uts",
		// "ipc", "cgroup") held open at once, as a storm would; they
		// vanish with the process.
		flag := map[string]int{"mnt": unix.CLONE_NEWNS, "net": unix.CLONE_NEWNET, "uts": unix.CLONE_NEWUTS, "ipc": unix.CLONE_NEWIPC, "cgroup": unix.CLONE_NEWCGROUP}[arg(2)]
		runtime.LockOSThread()
		n, _ := strconv.Atoi(arg(3))
		made, serr := storm(n, func(int) error {
			if err := unix.Unshare(flag); err != nil {
				return err
			}
			_, err := unix.Open("/proc/thread-self/ns/"+arg(2), unix.O_RDONLY, 0)
			return err
		})
		reportCount(serr, made)
		return
	case "inotify":
		// inotify N: N inotify instances held at once.
		n, _ := strconv.Atoi(arg(2))
		made, serr := storm(n, func(int) error { _, err := unix.InotifyInit1(0); return err })
		reportCount(serr, made)
		return
	case "status":
		// The fields that show which process-level defences are on.
		data, _ := os.ReadFile("/proc/self/status")
		os.Stdout.Write(data)
		return
	default:
		// More attempts live in more.go, each a function of its own.
		more, ok := moreCommands[os.Args[1]]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown command %q\n", os.Args[1])
			os.Exit(2)
		}
		err = more(arg)
	}
	report(err)
}

// storm calls step for 0..n-1 until it fails, and returns how many
// succeeded and the error that stopped it.
func storm(n int, step func(i int) error) (int, error) {
	for i := 0; i < n; i++ {
		if err := step(i); err != nil {
			return i, err
		}
	}
	return n, nil
}

// reportCount prints report's word and how many a storm made: "EAGAIN 20".
// With "hold" as the last argument it then keeps what it made (mounts,
// namespaces, instances) until killed, for a test to measure.
func reportCount(err error, made int) {
	report(err)
	fmt.Println(made)
	if os.Args[len(os.Args)-1] == "hold" {
		os.Stdout.Close()
		time.Sleep(time.Hour)
	}
}

func errno(_, _ uintptr, e unix.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

func report(err error) {
	if err == nil {
		fmt.Println("OK")
		return
	}
	if e, ok := err.(unix.Errno); ok {
		fmt.Println(unix.ErrnoName(e))
		return
	}
	if pe, ok := err.(*os.PathError); ok {
		if e, ok := pe.Err.(unix.Errno); ok {
			fmt.Println(unix.ErrnoName(e))
			return
		}
	}
	fmt.Println("ERROR", err)
}

// shocker is the 2014 Docker escape: open_by_handle_at with a handle for
// inode 2 (a filesystem's root on ext4) opens the host's root directory
// past any chroot or pivot_root, given CAP_DAC_READ_SEARCH.
func shocker() error {
	root, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	// struct file_handle: handle_bytes, handle_type, f_handle[8].
	var h [16]byte
	*(*uint32)(unsafe.Pointer(&h[0])) = 8
	*(*int32)(unsafe.Pointer(&h[4])) = 1 // FILEID_INO32_GEN
	*(*uint32)(unsafe.Pointer(&h[8])) = 2
	return errno(unix.Syscall(unix.SYS_OPEN_BY_HANDLE_AT, uintptr(root), uintptr(unsafe.Pointer(&h[0])), unix.O_RDONLY))
}

func firstBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

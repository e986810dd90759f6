package namespaces

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// devptsSuperMagic is the f_type of a devpts filesystem.
const devptsSuperMagic = 0x1cd1

// OpenZonePTY opens a new pseudo-terminal pair in the zone's own devpts
// instance, so that inside the zone the terminal is a /dev/pts/N that
// exists there (tty(1), ttyname(3), sudo and login all look it up).
//
// The zone's root is untrusted: /dev/pts/ptmx is opened from the zone's
// root with RESOLVE_IN_ROOT (symlinks cannot lead out), and the result must
// be the ptmx of a devpts filesystem, else it is refused. The peer is
// opened with TIOCGPTPEER, without any path lookup.
func OpenZonePTY(initPid int, startTime uint64) (master, slave *os.File, err error) {
	root, err := unix.Open("/proc/"+strconv.Itoa(initPid)+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open root of zone init %d: %w", initPid, err)
	}
	defer unix.Close(root)
	// Checked after the open: the fd now pins the right zone's root.
	if !Alive(initPid, startTime) {
		return nil, nil, fmt.Errorf("zone init %d: %w", initPid, os.ErrProcessDone)
	}
	fd, err := unix.Openat2(root, "dev/pts/ptmx", &unix.OpenHow{
		Flags:   unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open the zone's /dev/pts/ptmx: %w", err)
	}
	master = os.NewFile(uintptr(fd), "ptmx")
	var sfs unix.Statfs_t
	var st unix.Stat_t
	if err := unix.Fstatfs(fd, &sfs); err != nil || sfs.Type != devptsSuperMagic {
		master.Close()
		return nil, nil, fmt.Errorf("the zone's /dev/pts/ptmx is not on a devpts filesystem")
	}
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 5 || unix.Minor(st.Rdev) != 2 {
		master.Close()
		return nil, nil, fmt.Errorf("the zone's /dev/pts/ptmx is not the pty multiplexer")
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		master.Close()
		return nil, nil, fmt.Errorf("open pty peer: %w", errno)
	}
	return master, os.NewFile(sfd, "pts"), nil
}

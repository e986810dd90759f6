package namespaces

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

var sealed struct {
	once sync.Once
	path string
	err  error
}

// SealedBinary returns a path ("/proc/self/fd/N") of a sealed, read-only
// in-memory copy of the running binary, made once per process. Spawn and
// Exec execute it instead of /proc/self/exe: a process inside a zone that
// can reach the re-executed binary (through /proc/PID/exe of a process
// entering the zone) could otherwise open it for writing and replace the
// host's daemon (CVE-2019-5736). A sealed memfd can never be written again.
//
// The memfd is close-on-exec; exec.Cmd opens the path in the forked child,
// which still holds the descriptor, and the kernel execs it before closing.
func SealedBinary() (string, error) {
	sealed.once.Do(func() {
		sealed.path, sealed.err = sealBinary()
	})
	return sealed.path, sealed.err
}

func sealBinary() (string, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return "", fmt.Errorf("seal binary: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("zoned-sealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return "", fmt.Errorf("seal binary: memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "zoned-sealed")
	if _, err := io.Copy(mem, src); err != nil {
		mem.Close()
		return "", fmt.Errorf("seal binary: copy /proc/self/exe: %w", err)
	}
	if err := addSeals(mem); err != nil {
		mem.Close()
		return "", err
	}
	// The path names the descriptor by number, and exec.Cmd resolves it in
	// the child after moving ExtraFiles onto fds 3, 4, 5...: a low number
	// would by then name a namespace file or a pipe. Keep the copy far
	// above any ExtraFiles list.
	high, err := unix.FcntlInt(mem.Fd(), unix.F_DUPFD_CLOEXEC, sealedMinFd)
	mem.Close()
	if err != nil {
		return "", fmt.Errorf("seal binary: move descriptor above %d: %w", sealedMinFd, err)
	}
	// The file stays open for the life of the process: its number is the
	// path. Keep it reachable so the finalizer never closes it.
	sealedFile = os.NewFile(uintptr(high), "zoned-sealed")
	return fmt.Sprintf("/proc/self/fd/%d", high), nil
}

var sealedFile *os.File

// addSeals seals the copy against every change. The kernel refuses
// F_SEAL_WRITE with EBUSY while a page of the file has a reference
// beyond its mapping, and pages just written can hold a transient one
// (the other CPU's batch of pages on their way to the LRU lists, page
// migration) for a few milliseconds on a loaded host: it waited for them
// already, so ask again for a while before giving up.
func addSeals(mem *os.File) error {
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	var err error
	for wait := time.Millisecond; wait < 2*time.Second; wait *= 2 {
		if _, err = unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, seals); !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(wait)
	}
	if err != nil {
		return fmt.Errorf("seal binary: F_ADD_SEALS: %w", err)
	}
	return nil
}

// sealedMinFd is the lowest descriptor number the sealed copy may have.
const sealedMinFd = 512

package manager

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// dataDirLockName is the file in the data directory whose flock says which
// zoned owns the directory. The lock is on the directory, not on the store
// file: a second daemon given another -store must not adopt the same zones.
const dataDirLockName = ".lock"

// How long lockDataDir waits. A live holder gets liveHolderWait: a
// daemon that is just exiting cleanly lets go quickly, and a second
// daemon started by mistake must fail fast. A holder that is dead, a
// zombie or has SIGKILL pending lets go only when the kernel has closed
// all its descriptors, which under load can take seconds: it gets
// deadHolderWait.
var (
	liveHolderWait = 2 * time.Second
	deadHolderWait = 60 * time.Second
)

// dataDirLock is a held lock of a data directory.
type dataDirLock struct{ f *os.File }

// release lets go of the lock (closing the descriptor drops the flock).
// The pid stays in the file: the lock, not the file, says who holds it.
func (l *dataDirLock) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// lockDataDir takes DATA-DIR/.lock exclusively for this process and writes
// its pid there. Another live holder is an error wrapping ErrUnavailable
// that names its pid; a dying one is waited for, and said so in the log.
func lockDataDir(dir string, log *slog.Logger) (*dataDirLock, error) {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, dataDirLockName)
	// O_CLOEXEC (os.OpenFile's default) matters: zone inits are zoned
	// re-executed and must not carry the daemon's lock into the zone.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock of data directory %s: %w", dir, err)
	}
	start := time.Now()
	reported := 0
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
		}
		pid := lockHolder(path)
		dying := pid > 0 && processDying(pid)
		wait := liveHolderWait
		if pid <= 0 || dying {
			// No pid (the holder has not written it yet, or it is
			// gone) or a dying one: the lock will be released.
			wait = deadHolderWait
		}
		if time.Since(start) > wait {
			f.Close()
			who := "another zoned"
			if pid > 0 {
				who = fmt.Sprintf("zoned pid %d", pid)
				if dying {
					who += " (dead, but the kernel has not released its lock yet)"
				}
			}
			return nil, fmt.Errorf("data directory %s is in use by %s (lock %s held); one data directory takes one daemon, whatever its -store: %w", dir, who, path, errdefs.ErrUnavailable)
		}
		if dying && reported != pid {
			reported = pid
			log.Warn("waiting for the lock of a dead zoned to be released", "lock", path, "pid", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err != nil {
			log.Warn("write pid into data directory lock", "lock", path, "err", err)
		}
	}
	return &dataDirLock{f: f}, nil
}

// lockHolder is the pid written in the lock file, 0 when none.
func lockHolder(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// processDying reports whether pid is gone, a zombie, exiting, or has a
// SIGKILL pending: a process that will not run again but whose
// descriptors (and so flocks) the kernel may still be closing.
func processDying(pid int) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return true
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "State":
			if strings.HasPrefix(v, "Z") || strings.HasPrefix(v, "X") {
				return true
			}
		case "SigPnd", "ShdPnd":
			if mask, err := strconv.ParseUint(v, 16, 64); err == nil && mask&(1<<(unix.SIGKILL-1)) != 0 {
				return true
			}
		}
	}
	return false
}

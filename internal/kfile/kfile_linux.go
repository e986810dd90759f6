// Package kfile reads small kernel files (cgroup control files,
// /proc/PID/net/dev) through descriptors it keeps open. Such files are
// generated anew on each read from offset 0, so one pread gives fresh
// content: one system call instead of the open, stat, read, read, close of
// os.ReadFile. Reading the counters of hundreds of zones is then cheap
// enough to do in one API call.
//
// A descriptor whose file went away (a cgroup removed, a process gone)
// fails its read with ENODEV or ESRCH; Read then reopens by path once, so
// a group recreated at the same path is read correctly, and a file that
// is really gone gives the open's error (ErrNotExist).
package kfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// mu guards fds; reads hold it shared while they use a descriptor, so
// none is closed (and its number reused) under a reader.
var (
	mu  sync.RWMutex
	fds = map[string]int{}
)

// maxSize bounds one read: control files and net/dev of a zone are far
// smaller.
const maxSize = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, maxSize); return &b }}

func pread(fd int) ([]byte, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	n, err := unix.Pread(fd, *bp, 0)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), (*bp)[:n]...), nil
}

// Read returns the content of the kernel file at path.
func Read(path string) ([]byte, error) {
	mu.RLock()
	fd, ok := fds[path]
	var b []byte
	var err error
	if ok {
		b, err = pread(fd)
	}
	mu.RUnlock()
	if ok && err == nil {
		return b, nil
	}
	if ok {
		// Stale: the file was removed (and maybe made anew).
		mu.Lock()
		if cur, still := fds[path]; still && cur == fd {
			delete(fds, path)
			unix.Close(fd)
		}
		mu.Unlock()
	}
	fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if b, err = pread(fd); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	mu.Lock()
	if _, taken := fds[path]; taken {
		unix.Close(fd) // another reader cached one meanwhile
	} else {
		fds[path] = fd
	}
	mu.Unlock()
	return b, nil
}

// Forget closes the descriptors of every file under dir: a cgroup being
// removed, a zone that stopped. Reads racing with it may reopen.
func Forget(dir string) {
	prefix := filepath.Clean(dir) + "/"
	mu.Lock()
	defer mu.Unlock()
	for p, fd := range fds {
		if strings.HasPrefix(p, prefix) {
			delete(fds, p)
			unix.Close(fd)
		}
	}
}

// IsNotExist reports whether err says the file is not there.
func IsNotExist(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV)
}

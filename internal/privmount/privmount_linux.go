// Package privmount runs a function in a mount namespace of its own, on a
// thread of its own, so that what the function mounts is seen by it alone
// and never reaches the host's mount table.
package privmount

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on a locked thread in a new mount namespace, private from
// the host's (no propagation either way), and returns fn's error.
//
// The thread is never given back to Go, which ends it with the goroutine.
// But Go does not end the process's main thread: it parks it for good,
// and a namespace kept by a parked thread would hold a copy of every
// mount the host had when it was made (a destroyed zone's disk image or
// snapshot among them) for the process's life. So before the goroutine
// ends, the thread goes back to the mount namespace it came from, and
// the private one dies with fn's mounts.
func Do(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ch <- do(fn)
	}()
	return <-ch
}

func do(fn func() error) error {
	home, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("private mount namespace: %w", err)
	}
	defer unix.Close(home)
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("private mount namespace: %w", err)
	}
	// Should this fail, the thread ends anyway; only a parked main
	// thread would keep the namespace.
	defer func() { _ = unix.Setns(home, unix.CLONE_NEWNS) }()
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("private mount namespace: %w", err)
	}
	return fn()
}

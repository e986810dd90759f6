package procview

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestNoisyZoneWaitsInItsOwnLine: while zone b's snapshot is held (its
// turn blocked, as by a zone whose readers keep the server busy), 16
// readers of b's meminfo wait in b's line, at most one of them at work,
// and zone a's meminfo is still answered.
func TestNoisyZoneWaitsInItsOwnLine(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no /dev/fuse (CONFIG_FUSE_FS): %v", err)
	}
	state := t.TempDir()
	for _, z := range []string{"a", "b"} {
		cg, _ := testCgroup(t)
		if err := SetZone(state, z, Config{Cgroup: cg}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu               sync.Mutex
		busyB, maxB, inB int
		arrivedB         = make(chan struct{}, 1000)
		release          = make(chan struct{})
	)
	blocking := false
	snaps := newSnapper()
	snaps.arrive = func(zone string) {
		mu.Lock()
		defer mu.Unlock()
		if zone == "b" && blocking {
			arrivedB <- struct{}{}
		}
	}
	snaps.hook = func(zone string) {
		mu.Lock()
		if zone != "b" || !blocking {
			mu.Unlock()
			return
		}
		busyB++
		inB++
		maxB = max(maxB, busyB)
		mu.Unlock()
		<-release
		mu.Lock()
		busyB--
		mu.Unlock()
	}
	if err := os.MkdirAll(MountDir(state), 0o711); err != nil {
		t.Fatal(err)
	}
	srv, err := mountViewWith(state, snaps)
	if err != nil {
		t.Fatal(err)
	}
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
		if err := srv.Unmount(); err != nil {
			_ = unix.Unmount(MountDir(state), unix.MNT_DETACH)
		}
	})

	// The readers open the file as a zone opens its bind mount: by a
	// name already looked up (the kernel looks a name up for one
	// caller at a time, so 16 lookups would wait in the kernel, not in
	// the server).
	fd, err := unix.Open(filepath.Join(ZoneDir(state, "b"), "meminfo"), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	byFD := fmt.Sprintf("/proc/self/fd/%d", fd)
	mu.Lock()
	blocking = true
	mu.Unlock()
	const readers = 16
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := os.ReadFile(byFD); err != nil {
				errs <- err
			}
		}()
	}
	// Every reader has asked (each asks at least once before it can
	// read), and one holds b's turn.
	for i := 0; i < readers; i++ {
		select {
		case <-arrivedB:
		case <-time.After(time.Minute):
			t.Fatalf("only %d of b's %d readers reached the server", i, readers)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := os.ReadFile(filepath.Join(ZoneDir(state, "a"), "meminfo"))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("zone a's meminfo while b's line is held: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("zone a's meminfo got no answer while zone b's line was held")
	}
	mu.Lock()
	if maxB != 1 {
		t.Errorf("%d of b's snapshots were taken at once, want 1", maxB)
	}
	mu.Unlock()
	close(release)
	released = true
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a reader of b's meminfo: %v", err)
	}
	// The readers that waited shared snapshots: fewer were taken than
	// asked for.
	mu.Lock()
	defer mu.Unlock()
	if inB >= readers {
		t.Errorf("%d snapshots of b for %d readers that waited together", inB, readers)
	}
}

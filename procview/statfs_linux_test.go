package procview

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func TestApplyQuota(t *testing.T) {
	const k4 = 4096
	for _, tc := range []struct {
		name                string
		fsFree              uint64 // free blocks of the whole filesystem
		used, limit         int64
		blocks, free, avail uint64
	}{
		{"room in the pool", 1 << 20, 10 * k4, 100 * k4, 100, 90, 90},
		// A partly used block counts as used, as the filesystem counts it.
		{"partial block", 1 << 20, 10*k4 + 1, 100 * k4, 100, 89, 89},
		// Reservations can take use past the limit for a moment.
		{"over the limit", 1 << 20, 120 * k4, 100 * k4, 100, 0, 0},
		// The pool itself is nearly full: free is what the pool has.
		{"pool fuller than quota", 5, 10 * k4, 100 * k4, 100, 5, 5},
	} {
		st := unix.Statfs_t{Bsize: k4, Blocks: 1 << 30, Bfree: tc.fsFree, Bavail: tc.fsFree}
		applyQuota(&st, tc.used, tc.limit)
		if st.Blocks != tc.blocks || st.Bfree != tc.free || st.Bavail != tc.avail {
			t.Errorf("%s: blocks %d free %d avail %d, want %d %d %d", tc.name, st.Blocks, st.Bfree, st.Bavail, tc.blocks, tc.free, tc.avail)
		}
	}
}

// TestStatfsPlacesAreBounded: a zone gets at most statfsPerZone answers
// at once and all zones statfsInAll; an ended answer frees its place.
func TestStatfsPlacesAreBounded(t *testing.T) {
	a := &agent{statfsBusy: map[string]int{}}
	for i := 0; i < statfsPerZone; i++ {
		if !a.statfsBegin("z0") {
			t.Fatalf("answer %d of a zone refused", i)
		}
	}
	if a.statfsBegin("z0") {
		t.Fatalf("answer %d of one zone taken", statfsPerZone+1)
	}
	a.statfsEnd("z0")
	if !a.statfsBegin("z0") {
		t.Fatal("a freed place was not given again")
	}
	taken := statfsPerZone
	for z := 1; taken < statfsInAll; z++ {
		for i := 0; i < statfsPerZone && taken < statfsInAll; i++ {
			if !a.statfsBegin(string(rune('a' + z))) {
				t.Fatalf("answer refused with %d in all", taken)
			}
			taken++
		}
	}
	if a.statfsBegin("fresh") {
		t.Fatalf("a zone got an answer past %d in all", statfsInAll)
	}
	for i := 0; i < statfsPerZone; i++ {
		a.statfsEnd("z0")
	}
	if _, ok := a.statfsBusy["z0"]; ok {
		t.Error("a zone with no answer left stays counted")
	}
	if !a.statfsBegin("fresh") {
		t.Error("places freed by one zone were not given to another")
	}
}

// TestStatfsInResolvesAsTheCallerAndGivesTheThreadBack: statfsIn resolves
// a path from the caller's root and directory, and leaves its own thread
// in the server's root and directory, so that a thread Go keeps (the
// main one) pins no zone's filesystem.
func TestStatfsInResolvesAsTheCallerAndGivesTheThreadBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: chroot and mount")
	}
	// The caller: a thread of this process chrooted into dir, where
	// /sub is a tmpfs. From the server's root, /sub does not exist.
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(sub, unix.MNT_DETACH)
	if _, err := os.Stat("/sub"); err == nil {
		t.Skip("this host has a /sub")
	}
	tid, release := make(chan int), make(chan struct{})
	defer close(release)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if unix.Unshare(unix.CLONE_FS) != nil || unix.Chroot(dir) != nil || unix.Chdir("/") != nil {
			tid <- -1
			return
		}
		tid <- unix.Gettid()
		<-release
	}()
	caller := <-tid
	if caller < 0 {
		t.Fatal("cannot make a chrooted caller thread")
	}

	runtime.LockOSThread() // statfsIn's thread is this test's
	defer runtime.UnlockOSThread()
	rootBefore, _ := os.Readlink("/proc/thread-self/root")
	cwdBefore, _ := os.Readlink("/proc/thread-self/cwd")
	for _, path := range []string{"/sub", "sub", "/../sub"} {
		st, err := statfsIn(caller, path)
		if err != nil || st.Type != unix.TMPFS_MAGIC {
			t.Errorf("statfs %q as the chrooted caller: type %#x, %v; want tmpfs", path, st.Type, err)
		}
	}
	if _, err := statfsIn(caller, "/no/such"); err == nil {
		t.Error("statfs of a missing path as the caller succeeded")
	}
	root, _ := os.Readlink("/proc/thread-self/root")
	cwd, _ := os.Readlink("/proc/thread-self/cwd")
	if root != rootBefore || cwd != cwdBefore {
		t.Errorf("thread after statfsIn: root %q cwd %q, want %q %q", root, cwd, rootBefore, cwdBefore)
	}
}

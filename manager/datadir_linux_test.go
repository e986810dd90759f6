package manager

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// holdLock takes dir's lock through a descriptor of its own (flocks
// belong to open files, so this conflicts even within the process) and
// writes pid into it as the holder.
func holdLock(t *testing.T, dir string, pid int) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, dataDirLockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.Name(), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// deadPid is the pid of a process that ran and was reaped.
func deadPid(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	return cmd.Process.Pid
}

func shortWaits(t *testing.T) {
	live, dead := liveHolderWait, deadHolderWait
	liveHolderWait, deadHolderWait = 100*time.Millisecond, time.Minute
	t.Cleanup(func() { liveHolderWait, deadHolderWait = live, dead })
}

func TestDataDirLockRefusesLiveHolder(t *testing.T) {
	shortWaits(t)
	dir := t.TempDir()
	holdLock(t, dir, os.Getpid())
	_, err := lockDataDir(dir, slog.Default())
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "zoned pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("lock held by a live pid: %v, want ErrUnavailable naming the pid", err)
	}
}

func TestDataDirLockWaitsForDeadHolder(t *testing.T) {
	shortWaits(t)
	dir := t.TempDir()
	// The recorded holder is gone but its lock is not released yet, as
	// for a daemon killed with -9 whose descriptors the kernel is still
	// closing: the new daemon waits past the live holder's wait.
	f := holdLock(t, dir, deadPid(t))
	go func() {
		time.Sleep(10 * liveHolderWait)
		f.Close()
	}()
	l, err := lockDataDir(dir, slog.Default())
	if err != nil {
		t.Fatalf("lock after a dead holder let go: %v", err)
	}
	defer l.release()
	data, _ := os.ReadFile(filepath.Join(dir, dataDirLockName))
	if strings.TrimSpace(string(data)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file says %q, want our pid", data)
	}
	// Released, the next one takes it.
	l.release()
	l2, err := lockDataDir(dir, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	l2.release()
}

func TestProcessDying(t *testing.T) {
	if processDying(os.Getpid()) {
		t.Error("this live process counts as dying")
	}
	if !processDying(deadPid(t)) {
		t.Error("a reaped pid does not count as dying")
	}
	zombie := exec.Command("true")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	defer zombie.Wait()
	// Unreaped, it becomes a zombie once it has run.
	deadline := time.Now().Add(time.Minute)
	for !processDying(zombie.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("an exited, unreaped child never counted as dying")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

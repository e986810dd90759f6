package fsshare

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCleanupKillsLeftoverBuildProcesses: a process an interrupted build
// left working in a staging dir (here a sleep with its working directory
// there, as a chrooted dpkg or a cp into the root would have) is killed
// before the directory is removed; one elsewhere is not touched.
func TestCleanupKillsLeftoverBuildProcesses(t *testing.T) {
	s := newTestStorage(t)
	st, err := s.newStaging("t1")
	if err != nil {
		t.Fatal(err)
	}
	inside := exec.Command("sleep", "1000")
	inside.Dir = st.Root
	outside := exec.Command("sh", "-c", "sleep 1000; :", filepath.Join(s.templatesDir()+"-not", "x"))
	// Its own process group, so the sleep under the sh dies with it.
	outside.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	for _, c := range []*exec.Cmd{inside, outside} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		_ = syscall.Kill(-outside.Process.Pid, syscall.SIGKILL)
		_ = outside.Wait()
	}()
	defer inside.Process.Kill()
	if err := s.Cleanup(); err != nil {
		t.Fatal(err)
	}
	// The kill was sent before Cleanup returned; Wait reaps it.
	waited := make(chan error, 1)
	go func() { waited <- inside.Wait() }()
	select {
	case err := <-waited:
		if err == nil || inside.ProcessState.String() != "signal: killed" {
			t.Errorf("process in the staging dir: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the process working in the staging dir was not killed")
	}
	// Not reaped, so a killed one would be a zombie ("Z") by now. Alive
	// it sleeps, or under load waits on the disk ("D") for a moment.
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(outside.Process.Pid), "stat"))
	_, rest, _ := strings.Cut(string(stat), ") ")
	if err != nil || strings.HasPrefix(rest, "Z") || strings.HasPrefix(rest, "X") {
		t.Errorf("a process outside the staging dir was disturbed: %q %v", stat, err)
	}
	if _, err := os.Stat(st.dir); !os.IsNotExist(err) {
		t.Errorf("staging dir left: %v", err)
	}
}

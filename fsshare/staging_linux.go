package fsshare

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// killStagingUsers kills what an interrupted build left running in dir: a
// daemon killed outright takes debootstrap with it (Pdeathsig) but not the
// cp, wget or chrooted dpkg it had started, which would go on writing into
// the directory Cleanup is about to remove, or wait forever on a mirror.
// They are found by what only they can have: dir in their command line, or
// a root or working directory inside it.
func killStagingUsers(dir string) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
	inside := func(p string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		base := filepath.Join("/proc", e.Name())
		hit := false
		if cmd, err := os.ReadFile(filepath.Join(base, "cmdline")); err == nil {
			for _, arg := range strings.Split(string(cmd), "\x00") {
				if inside(arg) {
					hit = true
				}
			}
		}
		for _, link := range []string{"root", "cwd"} {
			if p, err := os.Readlink(filepath.Join(base, link)); err == nil && inside(p) {
				hit = true
			}
		}
		if hit {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

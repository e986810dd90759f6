package namespaces

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	// The pre-runtime namespace joiner must be linked into every binary
	// that can be re-executed as "zoned-exec".
	_ "github.com/zoned-project/zoned/namespaces/nsenter"
)

// Dispatch runs a re-exec role if os.Args[0] names one and never returns
// then; otherwise it returns at once. Call it first in main's init(), before
// anything starts goroutines that do work.
func Dispatch() {
	role := filepath.Base(os.Args[0])
	if role != RoleInit && role != RoleExec && role != RoleUserNS {
		return
	}
	// Namespace, capability and cgroup-namespace changes made with unshare
	// and prctl are per thread, and execve keeps only the calling thread:
	// everything from here to the final execve must run on one thread.
	// Called from init(), this pins the main goroutine to the main thread.
	runtime.LockOSThread()
	switch role {
	case RoleInit:
		initMain()
	case RoleExec:
		// The nsenter constructor runs this role whole and never
		// returns into Go; getting here means it did not run.
		fmt.Fprintln(os.NewFile(childSyncFd, "sync"), "error namespaces were not joined (nsenter constructor missing from the binary)")
		os.Exit(1)
	case RoleUserNS:
		userNSHoldMain()
	}
	os.Exit(1) // not reached: both roles exec or exit
}

// Inherited descriptors of the re-exec roles (exec.Cmd.ExtraFiles).
const (
	childConfigFd = 3
	childSyncFd   = 4
)

// syncMsg is one message on the parent/child socket pair.
type syncMsg struct {
	Type  string `json:"type"` // "go", "exec", "error"
	Error string `json:"error,omitempty"`
	// Fds names the descriptors a "go" carries (devnodes_linux.go).
	Fds []string `json:"fds,omitempty"`
}

// readConfig decodes the JSON config the parent wrote on fd 3.
func readConfig(v any) error {
	f := os.NewFile(childConfigFd, "config")
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode config: %w", err)
	}
	return nil
}

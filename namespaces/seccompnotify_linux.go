package namespaces

// A filter with SCMP_ACT_NOTIFY rules is loaded by the zone's own process
// (init or an exec'd command), right before execve, so only that process
// gets the listener descriptor. It sends the descriptor to its parent
// (Spawn or Exec in the daemon) over the sync socket, which sends it on to
// the spec's listenerPath with the process's state, as the OCI runtime
// spec describes for runtimes: the supervisor there answers the
// notifications. The process then closes its copy before execve, so
// nothing inside the zone can answer its own syscalls.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// sendListener sends msg with the listener descriptor fd attached over
// the sync socket, then closes fd.
func sendListener(sock *os.File, msg []byte, fd int) error {
	defer unix.Close(fd)
	if err := unix.Sendmsg(int(sock.Fd()), msg, unix.UnixRights(fd), nil, 0); err != nil {
		return fmt.Errorf("seccomp: pass the listener to the parent: %w", err)
	}
	return nil
}

// fdReader reads a sync socket with recvmsg, keeping the descriptors that
// arrive with the data (a plain read would drop and close them), in order.
type fdReader struct {
	sock *os.File
	fds  []int
}

func newFdReader(sock *os.File) *fdReader { return &fdReader{sock: sock} }

func (r *fdReader) Read(p []byte) (int, error) {
	rc, err := r.sock.SyscallConn()
	if err != nil {
		return 0, err
	}
	oob := make([]byte, unix.CmsgSpace(4*4))
	var n, oobn int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), p, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	}); err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return 0, fmt.Errorf("parse descriptors from child: %w", err)
		}
		for i := range msgs {
			fds, err := unix.ParseUnixRights(&msgs[i])
			if err == nil {
				r.fds = append(r.fds, fds...)
			}
		}
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// take returns the oldest descriptor received and not yet taken.
func (r *fdReader) take() (int, error) {
	if len(r.fds) == 0 {
		return -1, errors.New("the child's seccomp listener did not arrive")
	}
	fd := r.fds[0]
	r.fds = r.fds[1:]
	return fd, nil
}

// close closes the descriptors nobody took.
func (r *fdReader) close() {
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	r.fds = nil
}

// handOverListener sends the listener of the filter built from sc,
// installed by process pid of zone id, to sc.ListenerPath: a message with
// the OCI ContainerProcessState as JSON and the descriptor attached
// (SCM_RIGHTS), named "seccompFd" in its Fds. It closes fd.
func handOverListener(sc *specs.LinuxSeccomp, fd int, id string, pid int) error {
	defer unix.Close(fd)
	if sc == nil || sc.ListenerPath == "" {
		return errors.New("seccomp: a listener came but the policy names no listenerPath")
	}
	state := specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      pid,
		Metadata: sc.ListenerMetadata,
		State: specs.State{
			Version: specs.Version,
			ID:      id,
			Status:  specs.StateCreating,
			Pid:     pid,
		},
	}
	msg, err := json.Marshal(state)
	if err != nil {
		return err
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sc.ListenerPath, Net: "unix"})
	if err != nil {
		return fmt.Errorf("seccomp: hand the listener to %s: %w", sc.ListenerPath, err)
	}
	defer conn.Close()
	if _, _, err := conn.WriteMsgUnix(msg, unix.UnixRights(fd), nil); err != nil {
		return fmt.Errorf("seccomp: hand the listener to %s: %w", sc.ListenerPath, err)
	}
	return nil
}

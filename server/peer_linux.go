package server

import (
	"context"
	"net"

	"golang.org/x/sys/unix"
)

// Peer is who is on the other end of an API connection, as the kernel
// saw it when the client connected (SO_PEERCRED): it cannot be forged by
// what the client sends.
type Peer struct {
	UID, GID uint32
	PID      int32
}

type peerKey struct{}

// withPeer is the http.Server's ConnContext: it reads the connecting
// process's credentials off the Unix socket once per connection.
func withPeer(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return ctx
	}
	return context.WithValue(ctx, peerKey{}, Peer{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid})
}

// peerFrom returns the credentials of the request's client, if known.
func peerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

package api

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// UpgradeProtocol is the Upgrade header value of an exec stream: after the
// server answers 101 Switching Protocols, both sides exchange frames on the
// raw connection.
const UpgradeProtocol = "zoned-stream"

// FrameType says what a frame carries.
type FrameType byte

// Frame types. Client to server: Stdin, CloseStdin, Resize, Signal.
// Server to client: Stdout, Stderr, Exit, Error.
const (
	FrameStdin      FrameType = 0
	FrameStdout     FrameType = 1
	FrameStderr     FrameType = 2
	FrameResize     FrameType = 3 // payload: width, height as big-endian uint16
	FrameCloseStdin FrameType = 4
	FrameExit       FrameType = 5 // payload: exit code as big-endian int32
	FrameError      FrameType = 6 // payload: message text
	FrameSignal     FrameType = 7 // payload: signal number as one byte
)

// MaxFramePayload bounds one frame so a peer cannot make the other allocate
// without limit.
const MaxFramePayload = 1 << 20

// WriteFrame writes one frame: type byte, big-endian uint32 length, payload.
// It is not safe for concurrent use on one writer; callers serialize.
func WriteFrame(w io.Writer, t FrameType, payload []byte) error {
	if len(payload) > MaxFramePayload {
		return fmt.Errorf("frame payload of %d bytes exceeds %d", len(payload), MaxFramePayload)
	}
	buf := make([]byte, 5+len(payload))
	buf[0] = byte(t)
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(payload)))
	copy(buf[5:], payload)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame.
func ReadFrame(r io.Reader) (FrameType, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:5])
	if n > MaxFramePayload {
		return 0, nil, errors.New("frame payload too large")
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	return FrameType(hdr[0]), p, nil
}

// ResizePayload encodes a terminal size.
func ResizePayload(width, height uint16) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint16(b[0:2], width)
	binary.BigEndian.PutUint16(b[2:4], height)
	return b
}

// ParseResize decodes a terminal size.
func ParseResize(p []byte) (width, height uint16, err error) {
	if len(p) != 4 {
		return 0, 0, errors.New("resize frame must carry 4 bytes")
	}
	return binary.BigEndian.Uint16(p[0:2]), binary.BigEndian.Uint16(p[2:4]), nil
}

// ExitPayload encodes an exit code.
func ExitPayload(code int) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, uint32(int32(code)))
	return b
}

// ParseExit decodes an exit code.
func ParseExit(p []byte) (int, error) {
	if len(p) != 4 {
		return 0, errors.New("exit frame must carry 4 bytes")
	}
	return int(int32(binary.BigEndian.Uint32(p))), nil
}

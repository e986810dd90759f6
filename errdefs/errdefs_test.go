package errdefs

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

func TestNoSpaceFromAnyLayerIsInsufficientStorage(t *testing.T) {
	for _, err := range []error{
		ErrNoSpace,
		&os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC},
		fmt.Errorf("create zone: %w", &os.PathError{Op: "mkdir", Path: "/x", Err: syscall.EDQUOT}),
		// A layer that classified the failure as a bad request still
		// ran out of space.
		fmt.Errorf("extract: %w: %w", &os.LinkError{Op: "link", Err: syscall.ENOSPC}, ErrInvalid),
	} {
		if got := Code(err); got != "insufficient_storage" {
			t.Errorf("Code(%v) = %q, want insufficient_storage", err, got)
		}
	}
	if !errors.Is(FromCode("insufficient_storage"), ErrNoSpace) {
		t.Errorf("FromCode(insufficient_storage) is not ErrNoSpace")
	}
	if got := Code(&os.PathError{Op: "write", Err: syscall.EIO}); got != "internal" {
		t.Errorf("EIO is %q, want internal", got)
	}
}

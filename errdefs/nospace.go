package errdefs

import (
	"errors"
	"syscall"
)

// IsNoSpace reports whether err says space ran out: ErrNoSpace itself, or
// an ENOSPC or EDQUOT from the kernel anywhere in its chain. Matching the
// errno here, in the one place that classifies, means no layer (store,
// fsshare, quota, procview) has to remember to wrap its write errors: a
// %w chain down to the *os.PathError is enough.
func IsNoSpace(err error) bool {
	return errors.Is(err, ErrNoSpace) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

//go:build linux

package cgroups

import (
	"fmt"

	"github.com/zoned-project/zoned/errdefs"
)

// TreeLimits bound the groups a zone can create below its own. Zero means
// no limit ("max").
type TreeLimits struct {
	// MaxDescendants is the number of groups below the zone's group.
	MaxDescendants int
	// MaxDepth is how many levels deep they may go below it.
	MaxDepth int
}

// DefaultTreeLimits leave room for what a zone really runs and stop a
// storm early. systemd creates a group per slice, service and scope: a
// busy Debian server has one to three hundred, user sessions add a
// handful each, and a container engine inside the zone one or two per
// container; 1000 covers that with room to spare and costs the host at
// most some tens of MiB. systemd nests at most five levels
// (user.slice/user-1000.slice/user@1000.service/app.slice/x.service);
// a nested container manager adds its own few, so 16 is generous.
var DefaultTreeLimits = TreeLimits{MaxDescendants: 1000, MaxDepth: 16}

// ValidateTree rejects negative limits, naming the field.
func ValidateTree(l TreeLimits) error {
	switch {
	case l.MaxDescendants < 0:
		return fmt.Errorf("cgroup max descendants %d: must not be negative: %w", l.MaxDescendants, errdefs.ErrInvalid)
	case l.MaxDepth < 0:
		return fmt.Errorf("cgroup max depth %d: must not be negative: %w", l.MaxDepth, errdefs.ErrInvalid)
	}
	return nil
}

//go:build linux

package manager

import (
	"fmt"

	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/namespaces"
)

// limitDefaults fills in and checks the bounds on kernel objects a zone
// creates that its memory limit does not pay for (cgroups below its own,
// namespaces, inotify objects): see docs/resources.md.
func (cfg *Config) limitDefaults() error {
	if cfg.CgroupTree == nil {
		l := cgroups.DefaultTreeLimits
		cfg.CgroupTree = &l
	}
	if err := cgroups.ValidateTree(*cfg.CgroupTree); err != nil {
		return fmt.Errorf("zone cgroup limits: %w", err)
	}
	if cfg.UserNSLimits == nil {
		cfg.UserNSLimits = namespaces.DefaultUserNSLimits()
	}
	if err := cfg.UserNSLimits.Validate(); err != nil {
		return fmt.Errorf("zone user namespace limits: %w", err)
	}
	return nil
}

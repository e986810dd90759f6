package namespaces

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// userLimitsDir holds the per-user-namespace maxima.
const userLimitsDir = "/proc/sys/user"

// apply writes l in the user namespace of the calling process, which
// must hold CAP_SYS_RESOURCE there.
func (l UserNSLimits) apply() error {
	if err := l.Validate(); err != nil {
		return err
	}
	for _, k := range l.names() {
		p := filepath.Join(userLimitsDir, k)
		err := os.WriteFile(p, []byte(strconv.FormatInt(l[k], 10)), 0)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("set user namespace limit: write %d to %s: %w", l[k], p, err)
		}
	}
	return nil
}

package disk

import (
	"path/filepath"

	"github.com/zoned-project/zoned/fsshare"
	"github.com/zoned-project/zoned/quota"
)

// PoolQuota names the backend that enforces --disk in pool of fs, as
// ValidateCreate and fsshare.Volume.Create choose it: the quota the pool's
// backend puts on the layer itself (a btrfs pool's qgroups), the
// default pool's filesystem's project quota or else disk images, and
// none in other overlay pools.
func PoolQuota(fs *fsshare.Storage, pool fsshare.PoolInfo) string {
	switch {
	case pool.LayerQuota() != "":
		return pool.LayerQuota()
	case pool.Name != fsshare.DefaultPool:
		return "none"
	}
	name, err := quota.Detect(filepath.Dir(fs.ZoneDir("x")))
	if err != nil {
		// No zones/ yet: it will be made on the pool's filesystem.
		if name, err = quota.Detect(pool.Path); err != nil {
			return "none"
		}
	}
	return name
}

package fsshare

import "path/filepath"

// DefaultCacheDir is where templates' downloads and built roots are kept
// unless the daemon is told otherwise (zoned -cache-dir): the
// busybox-static package of the built-in template, and finished Debian
// roots as zstd tarballs under debootstrap/, so a second template with
// the same suite, variant and packages takes seconds instead of a
// download.
const DefaultCacheDir = "/var/cache/zoned"

// SetCacheDir sets the cache directory; "" means DefaultCacheDir. Call
// it before building templates. It is configuration, not a global, so
// two daemons (or tests) on one host can keep caches of their own.
func (s *Storage) SetCacheDir(dir string) {
	if dir == "" {
		dir = DefaultCacheDir
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cacheDir = dir
}

// CacheDir is the cache directory.
func (s *Storage) CacheDir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cacheDir
}

func (s *Storage) debootstrapCache() string { return filepath.Join(s.CacheDir(), "debootstrap") }

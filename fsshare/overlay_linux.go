package fsshare

import (
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// overlayBackend gives each zone an overlayfs upper directory over its
// template: the template's files are stored once and shared in the page
// cache by every zone, and a zone's changes land in its own upper dir.
type overlayBackend struct{}

func (overlayBackend) Name() string { return "overlay" }

func (overlayBackend) WritableDir(layerDir string) string { return filepath.Join(layerDir, "upper") }

func (overlayBackend) ShiftsOwners() bool { return true }

// Delete has nothing to do: upper and work are plain directories.
func (overlayBackend) Delete(string) error { return nil }

func (overlayBackend) Create(layerDir, templateRoot string) error {
	var st unix.Stat_t
	if err := unix.Stat(templateRoot, &st); err != nil {
		return fmt.Errorf("stat template root: %w", err)
	}
	// The merged root directory takes its mode and owner from the upper
	// dir, so the upper dir must look like the template's root, not like
	// a private directory of the daemon.
	upper := filepath.Join(layerDir, "upper")
	if err := os.Mkdir(upper, 0o700); err != nil {
		return err
	}
	if err := os.Lchown(upper, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := unix.Chmod(upper, st.Mode&0o7777); err != nil {
		return err
	}
	// The work dir is the kernel's scratch space; nobody else needs it.
	return os.Mkdir(filepath.Join(layerDir, "work"), 0o700)
}

func (overlayBackend) RootMount(layerDir, rootPath, templateRoot string) specs.Mount {
	return specs.Mount{
		Destination: rootPath,
		Type:        "overlay",
		Source:      "overlay",
		Options: []string{
			"lowerdir=" + templateRoot,
			"upperdir=" + filepath.Join(layerDir, "upper"),
			"workdir=" + filepath.Join(layerDir, "work"),
			// index=on ties the upper dir to the lower dir's exact file
			// handles and refuses a lower that is also used by other
			// overlays with index on; the kernel default is a build option,
			// so say it explicitly.
			"index=off",
			// Same reason: metacopy and redirect_dir would store overlay
			// metadata in the upper dir that a later backend (or a copy of
			// the zone to another host) could not read back as plain files.
			"metacopy=off",
			"redirect_dir=off",
		},
	}
}

func (overlayBackend) Usage(layerDir string) (int64, error) {
	return diskUsage(filepath.Join(layerDir, "upper"))
}

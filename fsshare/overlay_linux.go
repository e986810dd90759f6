package fsshare

import (
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/internal/privmount"
	"github.com/zoned-project/zoned/quota"
)

// BackendOverlay is the name a pool asks for the overlay backend by.
const BackendOverlay = "overlay"

// overlayBackend gives each zone an overlayfs upper directory over its
// template: the template's files are stored once and shared in the page
// cache by every zone, and a zone's changes land in its own upper dir.
type overlayBackend struct{}

func (overlayBackend) Name() string { return BackendOverlay }

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

// OwnLayer gives the zone the upper dir, owned like the template's root
// as the zone sees it, and the work dir, the kernel's scratch space that
// must be the zone's too.
func (b overlayBackend) OwnLayer(layerDir string, base int, rootUID, rootGID uint32) error {
	for p, ids := range map[string][2]int{
		b.WritableDir(layerDir):         {base + int(rootUID), base + int(rootGID)},
		filepath.Join(layerDir, "work"): {base, base},
	} {
		if err := os.Lchown(p, ids[0], ids[1]); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// Serves any directory: overlayfs needs nothing of the filesystem below
// its upper dir that zoned's filesystems lack.
func (overlayBackend) Serves(string) (string, error) { return "", nil }

// CopyLayer makes dst a directory holding upper/, a copy of the upper dir
// (reflinked where the filesystem can), flushed to disk: a snapshot
// reported made must survive a crash. readonly is for backends that can
// freeze a copy; a snapshot here is kept read-only by nothing mounting it.
func (overlayBackend) CopyLayer(src, dst string, _ bool) error {
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	up := filepath.Join(dst, "upper")
	if err := os.Mkdir(up, 0o700); err != nil {
		return err
	}
	if err := copyTree(src, up); err != nil {
		return err
	}
	return syncDir(dst)
}

func (overlayBackend) SnapshotFiles(snapDir string) string { return filepath.Join(snapDir, "upper") }

func (overlayBackend) SnapshotSize(snapDir string) (int64, error) { return diskUsage(snapDir) }

func (overlayBackend) RemoveSnapshot(snapDir string) error { return removeSnapshotDir(snapDir) }

// Restored empties the work dir, which may hold what the old upper dir
// left; it must be empty for the next mount.
func (overlayBackend) Restored(layerDir string) {
	work := filepath.Join(layerDir, "work")
	entries, _ := os.ReadDir(work)
	for _, e := range entries {
		_ = removeTree(filepath.Join(work, e.Name()))
	}
}

// CloneLayer copies the source's upper dir (reflinked where the
// filesystem can) and moves its owners to the new zone's IDs.
func (overlayBackend) CloneLayer(from, to string, fromShift, toShift int) error {
	if err := copyTree(from, to); err != nil {
		return err
	}
	if err := shiftOwners(to, fromShift, toShift); err != nil {
		return fmt.Errorf("move owners to the new zone's IDs: %w", err)
	}
	return nil
}

// ExportsLayer: the upper dir is exactly the zone's own changes.
func (overlayBackend) ExportsLayer() bool { return true }

// ReadRoot mounts the layer over its template, read-only, where only
// read sees it. The upper dir becomes a lower dir there, which the kernel
// refuses while the zone's own overlay uses it: the zone must be stopped.
func (b overlayBackend) ReadRoot(layerDir, templateRoot string, read func(string) error) error {
	return privmount.Do(func() error {
		mnt := filepath.Join(layerDir, "export-root")
		if err := os.MkdirAll(mnt, 0o700); err != nil {
			return err
		}
		defer os.Remove(mnt)
		opt := "lowerdir=" + b.WritableDir(layerDir) + ":" + templateRoot
		if err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, opt); err != nil {
			return fmt.Errorf("mount the zone's root to read it (stop the zone first): %w", err)
		}
		defer unix.Unmount(mnt, unix.MNT_DETACH)
		return read(mnt)
	})
}

func (overlayBackend) ReadRootLive() bool { return false }

// PrepareImport writes the archive's whiteouts as overlay's own.
func (overlayBackend) PrepareImport(x *extractor) { x.overlayWhiteouts = true }

// LayerQuota is "": the host filesystem's quota on zones/NAME, made
// before the upper dir inside, caps the layer.
func (overlayBackend) LayerQuota() string { return "" }

// LimitLayer is never called (LayerQuota is ""): nothing to cap beyond
// zones/NAME.
func (overlayBackend) LimitLayer(string, quota.Limits) error { return nil }

// CopiesTemplates is false: the shared template is the lower dir itself.
func (overlayBackend) CopiesTemplates() bool { return false }

// CopyTemplate is never called (CopiesTemplates is false).
func (overlayBackend) CopyTemplate(string, string) error { return nil }

func (overlayBackend) TemplateCopySize(string) (int64, error) { return 0, nil }

package fsshare

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
)

// stagingPrefix marks directories in templates/ that are not templates:
// builds in progress and templates being deleted. Template names cannot
// start with '.', so the two never collide.
const stagingPrefix = ".staging-"

// TemplateRoot is the root filesystem of template name.
func (s *Storage) TemplateRoot(name string) string {
	return filepath.Join(s.templatesDir(), name, "rootfs")
}

// TemplateExists reports whether template name is complete on disk.
func (s *Storage) TemplateExists(name string) bool {
	if validate.Name("template", name) != nil {
		return false
	}
	fi, err := os.Lstat(s.TemplateRoot(name))
	return err == nil && fi.IsDir()
}

// staging is a template being built: Root is filled, then publish renames
// the whole directory into place so a template is either complete or absent.
type staging struct {
	dir  string // templates/.staging-NAME-XXXX
	Root string // dir/rootfs
}

func (s *Storage) newStaging(name string) (*staging, error) {
	if err := validate.Name("template", name); err != nil {
		return nil, err
	}
	if s.TemplateExists(name) {
		return nil, fmt.Errorf("template %q: %w", name, errdefs.ErrAlreadyExists)
	}
	dir, err := os.MkdirTemp(s.templatesDir(), stagingPrefix+name+"-")
	if err != nil {
		return nil, fmt.Errorf("template %q: make staging dir: %w", name, err)
	}
	st := &staging{dir: dir, Root: filepath.Join(dir, "rootfs")}
	if err := os.Mkdir(st.Root, 0o755); err != nil {
		removeTree(dir)
		return nil, fmt.Errorf("template %q: make staging dir: %w", name, err)
	}
	return st, nil
}

// discard removes the staging dir, detaching first whatever a build tool
// left mounted in it so RemoveAll never walks into /proc or /sys.
func (st *staging) discard() {
	_ = unmountUnder(st.dir)
	_ = removeTree(st.dir)
}

// publish makes the staging dir template name: data flushed to disk first,
// then one rename that does not replace an existing template.
func (s *Storage) publish(st *staging, name string) error {
	if mounts, err := mountsUnder(st.dir); err != nil || len(mounts) > 0 {
		return fmt.Errorf("template %q: build left mounts in %s: %v", name, st.dir, mounts)
	}
	if fd, err := unix.Open(st.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		// A crash after the rename must not leave a template of empty
		// files; syncfs is one call for the whole tree.
		_ = unix.Syncfs(fd)
		unix.Close(fd)
	}
	dst := filepath.Join(s.templatesDir(), name)
	if err := unix.Renameat2(unix.AT_FDCWD, st.dir, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE); err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return fmt.Errorf("template %q: %w", name, errdefs.ErrAlreadyExists)
		}
		return fmt.Errorf("template %q: move into place: %w", name, err)
	}
	if fd, err := unix.Open(s.templatesDir(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		_ = unix.Fsync(fd)
		unix.Close(fd)
	}
	return nil
}

// BuildBuiltin builds template name from Debian's static busybox: a tiny
// root that boots in milliseconds, for tests and minimal zones.
func (s *Storage) BuildBuiltin(ctx context.Context, name string) error {
	st, err := s.newStaging(name)
	if err != nil {
		return err
	}
	if err := BuildBusyboxRoot(ctx, s.CacheDir(), st.Root); err != nil {
		st.discard()
		return fmt.Errorf("build template %q: %w", name, err)
	}
	if err := s.publish(st, name); err != nil {
		st.discard()
		return err
	}
	return nil
}

// DeleteTemplate removes template name. Whether zones still use it is the
// caller's business (the store knows); this only makes sure the template
// vanishes at once and whole: it is renamed to a staging name first, so an
// interrupted delete leaves no half template for Cleanup to miss.
func (s *Storage) DeleteTemplate(name string) error {
	if err := validate.Name("template", name); err != nil {
		return err
	}
	dir := filepath.Join(s.templatesDir(), name)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete template %q: %w", name, errdefs.ErrNotFound)
	}
	// The pools' copies go first: a template whose copy failed to go can
	// be deleted again, a copy without a template would be found by no one.
	if err := s.deletePoolTemplates(name); err != nil {
		return fmt.Errorf("delete template %q: %w", name, err)
	}
	tmp, err := os.MkdirTemp(s.templatesDir(), stagingPrefix+"delete-"+name+"-")
	if err != nil {
		return fmt.Errorf("delete template %q: %w", name, err)
	}
	// Rename over the fresh empty dir: rename(2) replaces an empty dir
	// (os.Rename refuses to, hence unix.Rename).
	if err := unix.Rename(dir, tmp); err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete template %q: %w", name, errdefs.ErrNotFound)
		}
		return fmt.Errorf("delete template %q: %w", name, err)
	}
	if err := removeTree(tmp); err != nil {
		return fmt.Errorf("delete template %q: %w", name, err)
	}
	return nil
}

// TemplateSize is the bytes template name takes on disk, each file counted
// once however many hard links it has.
func (s *Storage) TemplateSize(name string) (int64, error) {
	if err := validate.Name("template", name); err != nil {
		return 0, err
	}
	if !s.TemplateExists(name) {
		return 0, fmt.Errorf("size of template %q: %w", name, errdefs.ErrNotFound)
	}
	n, err := diskUsage(s.TemplateRoot(name))
	if err != nil {
		return 0, fmt.Errorf("size of template %q: %w", name, err)
	}
	return n, nil
}

// Cleanup removes what interrupted template builds and deletes left in
// templates/. The daemon calls it at start, before any build can run.
func (s *Storage) Cleanup() error {
	entries, err := os.ReadDir(s.templatesDir())
	if err != nil {
		return fmt.Errorf("clean up templates: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), stagingPrefix) {
			continue
		}
		st := &staging{dir: filepath.Join(s.templatesDir(), e.Name())}
		killStagingUsers(st.dir)
		if err := unmountUnder(st.dir); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := removeTree(st.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.cleanupPools(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean up templates: %w", err)
	}
	return nil
}

// Init kinds DetectInit tells apart.
const (
	InitSystemd  = "systemd"
	InitBusybox  = "busybox"
	InitSysvinit = "sysvinit"
	InitUnknown  = "unknown"
)

// SignalSystemdHalt is SIGRTMIN+3, on which systemd halts cleanly. glibc's
// SIGRTMIN is 34 (the kernel's 32 and 33 are taken by the C library's
// threads), and systemd counts from glibc's, so this is 37, not 35.
const SignalSystemdHalt = syscall.Signal(34 + 3)

// InitInfo says what a template's /sbin/init is and how to stop it.
type InitInfo struct {
	// Path is where /sbin/init leads, inside the template ("/lib/systemd/systemd").
	Path string
	// Kind is InitSystemd, InitBusybox, InitSysvinit or InitUnknown.
	Kind string
	// StopSignal asks that init to shut the zone down cleanly.
	StopSignal syscall.Signal
}

// DetectInit finds out what init template boots. /sbin/init is resolved as
// the zone would see it: symlinks are followed inside the template root,
// never out to the host.
func (s *Storage) DetectInit(template string) (InitInfo, error) {
	if err := validate.Name("template", template); err != nil {
		return InitInfo{}, err
	}
	if !s.TemplateExists(template) {
		return InitInfo{}, fmt.Errorf("detect init of template %q: %w", template, errdefs.ErrNotFound)
	}
	info, err := detectInit(s.TemplateRoot(template))
	if err != nil {
		return InitInfo{}, fmt.Errorf("detect init of template %q: %w", template, err)
	}
	return info, nil
}

func detectInit(root string) (InitInfo, error) {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return InitInfo{}, err
	}
	defer unix.Close(rootFD)
	fd, err := unix.Openat2(rootFD, "sbin/init", &unix.OpenHow{
		// O_NONBLOCK so a fifo named init cannot hang the daemon.
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return InitInfo{}, fmt.Errorf("no /sbin/init: %w", errdefs.ErrInvalid)
		}
		return InitInfo{}, fmt.Errorf("open /sbin/init: %w", err)
	}
	f := os.NewFile(uintptr(fd), "init")
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return InitInfo{}, err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return InitInfo{}, fmt.Errorf("/sbin/init is not an executable file: %w", errdefs.ErrInvalid)
	}
	// The kernel knows where the descriptor leads; strip the template root
	// off to get the path inside the zone.
	host, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return InitInfo{}, err
	}
	inZone := "/" + strings.TrimPrefix(strings.TrimPrefix(host, root), "/")
	info := InitInfo{Path: inZone, Kind: classifyInit(inZone, f)}
	switch info.Kind {
	case InitSystemd:
		info.StopSignal = SignalSystemdHalt
	case InitBusybox:
		info.StopSignal = unix.SIGUSR2 // busybox init: poweroff
	case InitSysvinit:
		info.StopSignal = unix.SIGPWR // inittab's powerfail action, shutdown in Debian's
	default:
		info.StopSignal = unix.SIGTERM
	}
	return info, nil
}

// classifyInit guesses the kind of init from its name, then from strings
// in the binary (a busybox hard-linked as init, sysvinit's init).
func classifyInit(p string, r io.Reader) string {
	switch filepath.Base(p) {
	case "systemd":
		return InitSystemd
	case "busybox":
		return InitBusybox
	}
	// Real inits are a few MiB at most; a bigger read buys nothing.
	data, _ := io.ReadAll(io.LimitReader(r, 16<<20))
	switch {
	case bytes.Contains(data, []byte("BusyBox v")):
		return InitBusybox
	case bytes.Contains(data, []byte("systemd.unit=")), bytes.Contains(data, []byte("SYSTEMD_")) && bytes.Contains(data, []byte("default.target")):
		return InitSystemd
	case bytes.Contains(data, []byte("INIT_VERSION")), bytes.Contains(data, []byte("/run/initctl")), bytes.Contains(data, []byte("/dev/initctl")):
		return InitSysvinit
	}
	return InitUnknown
}

package quota

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// imageBackend gives each directory an ext4 filesystem of its own in a
// sparse file under dir, named after the directory, on a loop device and
// mounted over the directory. The filesystem is full when the quota is,
// whatever the host filesystem is; deleting files inside punches holes in
// the image (mount option discard), so the host gets the space back.
type imageBackend struct{ dir string }

func (imageBackend) Name() string { return Image }

func (b imageBackend) imagePath(dir string) string {
	return filepath.Join(b.dir, filepath.Base(dir)+".img")
}

func (b imageBackend) Make(dir string, l Limits) (err error) {
	if l.Bytes < MinImageBytes {
		return fmt.Errorf("disk image of %d bytes: the image backend needs at least %d: %w", l.Bytes, MinImageBytes, errdefs.ErrInvalid)
	}
	if err := mkdirNew(dir); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = b.Remove(dir)
		}
	}()
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return err
	}
	img := b.imagePath(dir)
	f, err := os.OpenFile(img, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create image: %w", err)
	}
	err = f.Truncate(l.Bytes)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("size image: %w", err)
	}
	// -m 0: the zone's root may use all of it (no blocks kept for the
	// host's root, which never writes there); lazy init and nodiscard keep
	// a sparse file sparse and mkfs quick.
	args := []string{"-q", "-F", "-t", "ext4", "-m", "0", "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1"}
	if l.Inodes > 0 {
		args = append(args, "-N", strconv.FormatInt(l.Inodes, 10))
	}
	if out, err := exec.Command("mkfs.ext4", append(args, img)...).CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %w: %s", img, err, strings.TrimSpace(string(out)))
	}
	if err := b.Attach(dir); err != nil {
		return err
	}
	// The mount's root takes the place of the directory made above:
	// same owner (root) and a mode only root passes. lost+found stays:
	// e2fsck wants it.
	return os.Chmod(dir, 0o700)
}

// Attach mounts the image over dir unless it is mounted there already.
func (b imageBackend) Attach(dir string) error {
	img := b.imagePath(dir)
	if _, err := os.Stat(img); err != nil {
		return fmt.Errorf("attach disk image: %w", err)
	}
	if dev, err := mountSource(dir); err == nil && dev != "" {
		return nil
	}
	dev, lf, err := attachLoop(img)
	if err != nil {
		return fmt.Errorf("attach %s: %w", img, err)
	}
	// The loop device has autoclear set: it goes away by itself when the
	// last mount and the last open file of it do, so a zone never leaks
	// one after unmount, and a failed mount frees it here.
	defer lf.Close()
	if err := unix.Mount(dev, dir, "ext4", unix.MS_NOSUID, "discard"); err != nil {
		return fmt.Errorf("mount %s on %s: %w", dev, dir, err)
	}
	return nil
}

func (b imageBackend) SetLimits(dir string, l Limits, live bool) error {
	u, err := b.Usage(dir)
	if err != nil {
		return err
	}
	if l.Bytes == 0 {
		return fmt.Errorf("an image disk cannot be unlimited; set a larger size: %w", errdefs.ErrUnsupported)
	}
	if l.Bytes < u.Bytes {
		return fmt.Errorf("disk_bytes %d is below the %d bytes in use: %w", l.Bytes, u.Bytes, errdefs.ErrConflict)
	}
	if l.Inodes != 0 && l.Inodes != u.LimitInodes {
		return fmt.Errorf("disk_inodes of an image disk is fixed when it is made (%d); it grows with the size: %w", u.LimitInodes, errdefs.ErrUnsupported)
	}
	img := b.imagePath(dir)
	st, err := os.Stat(img)
	if err != nil {
		return err
	}
	if l.Bytes == st.Size() {
		return nil
	}
	if l.Bytes < st.Size() {
		return fmt.Errorf("disk_bytes %d: an image disk grows online but does not shrink (now %d bytes, %d in use): %w", l.Bytes, st.Size(), u.Bytes, errdefs.ErrUnsupported)
	}
	dev, err := mountSource(dir)
	if err != nil {
		return err
	}
	if err := os.Truncate(img, l.Bytes); err != nil {
		return fmt.Errorf("grow image: %w", err)
	}
	lf, err := os.Open(dev)
	if err != nil {
		return err
	}
	err = unix.IoctlSetInt(int(lf.Fd()), unix.LOOP_SET_CAPACITY, 0)
	lf.Close()
	if err != nil {
		return fmt.Errorf("tell %s its new size: %w", dev, err)
	}
	// resize2fs grows a mounted ext4 online. The kernel wants
	// CAP_SYS_RESOURCE for that, which a daemon in a restricted sandbox
	// may lack; a stopped zone's image is then grown offline.
	out, err := exec.Command("resize2fs", dev).CombinedOutput()
	if err == nil {
		return nil
	}
	if live || !strings.Contains(string(out), "Permission denied") {
		return fmt.Errorf("resize2fs %s: %w: %s", dev, err, strings.TrimSpace(string(out)))
	}
	return b.growOffline(dir, img, dev)
}

// growOffline grows the filesystem of a stopped zone's image to the size
// of its loop device dev, unmounted.
//
// The check and the grow work on dev, kept attached by an open file, and
// never on the image file: a mount namespace made while the image was
// mounted (another zone starting) holds a copy of the mount for a moment,
// so the filesystem may still be live after our unmount, writing its
// journal. Only the device tells: its filesystem claims it exclusively
// until the last copy goes, so an O_EXCL open of it succeeds only then,
// and e2fsck and resize2fs open it O_EXCL as well.
func (b imageBackend) growOffline(dir, img, dev string) error {
	hold, err := os.OpenFile(dev, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("grow %s offline: %w", img, err)
	}
	// With autoclear the device goes when this closes; Attach then binds
	// the image anew.
	defer hold.Close()
	if err := unix.Unmount(dir, 0); err != nil {
		return fmt.Errorf("unmount %s to grow it offline: %w", dir, err)
	}
	err = waitUnclaimed(dev, 10*time.Second)
	var out []byte
	if err == nil {
		// e2fsck first, as resize2fs insists for an unmounted
		// filesystem; -p repairs only what is safe without asking.
		out, err = exec.Command("e2fsck", "-f", "-p", dev).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			err = nil // errors corrected
		}
	}
	if err == nil {
		out, err = exec.Command("resize2fs", dev).CombinedOutput()
	}
	hold.Close()
	if aerr := b.Attach(dir); err == nil {
		err = aerr
	}
	if err != nil {
		return fmt.Errorf("grow %s offline: %w: %s", img, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// waitUnclaimed waits until no filesystem has block device dev mounted
// (an O_EXCL open of it succeeds), for at most timeout.
func waitUnclaimed(dev string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("open %s exclusively: %w", dev, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is still mounted elsewhere %s after its unmount: %w", dev, timeout, errdefs.ErrUnavailable)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b imageBackend) Usage(dir string) (Usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Usage{}, err
	}
	if uint32(st.Type) != unix.EXT4_SUPER_MAGIC {
		return Usage{}, fmt.Errorf("%s has no disk image mounted: %w", dir, errdefs.ErrUnavailable)
	}
	img, err := os.Stat(b.imagePath(dir))
	if err != nil {
		return Usage{}, err
	}
	return Usage{
		Backend:     Image,
		Bytes:       int64(st.Blocks-st.Bfree) * st.Bsize,
		Inodes:      int64(st.Files - st.Ffree),
		LimitBytes:  img.Size(),
		LimitInodes: int64(st.Files),
	}, nil
}

func (b imageBackend) Remove(dir string) error {
	for {
		dev, err := mountSource(dir)
		if err != nil || dev == "" {
			break
		}
		// Lazily: a process of the zone's that lingers in a namespace
		// of its own keeps the filesystem, not the host's mount table.
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Remove(b.imagePath(dir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// mountSource returns the source of the mount whose mountpoint is dir in
// this mount namespace, "" when none is. The last mount on dir wins.
func mountSource(dir string) (string, error) {
	infos, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.Mountpoint != dir, false
	})
	if err != nil || len(infos) == 0 {
		return "", err
	}
	return infos[len(infos)-1].Source, nil
}

// attachLoop binds img to a free loop device with autoclear and returns the
// device's path and an open file of it: autoclear frees the device when
// that file is closed unless something mounted it by then.
func attachLoop(img string) (string, *os.File, error) {
	f, err := os.OpenFile(img, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("kernel has no loop devices (CONFIG_BLK_DEV_LOOP): %w", err)
	}
	defer ctl.Close()
	// Another process may take the free device between asking and
	// binding: ask again then.
	for try := 0; try < 20; try++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", nil, fmt.Errorf("find a free loop device: %w", err)
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		lf, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", nil, err
		}
		cfg := unix.LoopConfig{Fd: uint32(f.Fd())}
		cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
		copy(cfg.Info.File_name[:], img)
		err = unix.IoctlLoopConfigure(int(lf.Fd()), &cfg)
		if err == nil {
			return dev, lf, nil
		}
		lf.Close()
		if !errors.Is(err, unix.EBUSY) {
			return "", nil, fmt.Errorf("configure %s: %w", dev, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "", nil, fmt.Errorf("no free loop device stayed free: %w", errdefs.ErrUnavailable)
}

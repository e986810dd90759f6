package fsshare

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FIEMAP (linux/fiemap.h), made by hand: x/sys/unix has no wrapper.
const (
	fsIocFiemap            = 0xc020660b // _IOWR('f', 11, struct fiemap)
	fiemapExtentLast       = 0x1
	fiemapExtentUnknown    = 0x2
	fiemapExtentDelalloc   = 0x4
	fiemapExtentDataInline = 0x200
	fiemapExtentShared     = 0x2000
	fiemapBatch            = 64
)

type fiemapHead struct {
	Start, Length                                 uint64
	Flags, MappedExtents, ExtentCount, reserved32 uint32
}

type fiemapExtent struct {
	Logical, Physical, Length uint64
	reserved64                [2]uint64
	Flags                     uint32
	reserved                  [3]uint32
}

type fiemapBuf struct {
	head    fiemapHead
	extents [fiemapBatch]fiemapExtent
}

// btrfsExclusiveBytes is the bytes of the files below p whose extents
// nothing outside p shares: what p costs on disk beyond what it shares
// with its template and other snapshots, counted as `btrfs filesystem du`
// counts its "Exclusive" column, from the files' extent maps (FIEMAP:
// extents not marked shared; inline, delayed and unknown ones left out),
// each inode once, without needing quotas enabled. It walks by descriptor
// (treeWalk): btrfs-progs builds whole paths and fails with "path too
// long" on a zone that nests directories past PATH_MAX.
func btrfsExclusiveBytes(p string) (int64, error) {
	if _, err := os.Lstat(p); err != nil {
		return 0, err
	}
	var total int64
	seen := map[walkInode]bool{}
	var buf fiemapBuf
	w := treeWalk{visit: func(e *walkEntry) error {
		if e.St.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil
		}
		k := walkInode{e.St.Dev, e.St.Ino}
		if seen[k] {
			return nil
		}
		seen[k] = true
		fd, err := openSame(e)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return err
		}
		defer unix.Close(fd)
		var start uint64
		for {
			buf.head = fiemapHead{Start: start, Length: ^uint64(0) - start, ExtentCount: fiemapBatch}
			if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fsIocFiemap, uintptr(unsafe.Pointer(&buf))); errno != 0 {
				return fmt.Errorf("extent map of %s: %w", shortName(e.Rel()), errno)
			}
			n := int(buf.head.MappedExtents)
			if n == 0 {
				return nil
			}
			for _, x := range buf.extents[:n] {
				if x.Flags&(fiemapExtentUnknown|fiemapExtentDelalloc|fiemapExtentDataInline|fiemapExtentShared) == 0 {
					total += int64(x.Length)
				}
			}
			last := buf.extents[n-1]
			if last.Flags&fiemapExtentLast != 0 {
				return nil
			}
			start = last.Logical + last.Length
		}
	}}
	if err := w.run(p); err != nil {
		return 0, fmt.Errorf("exclusive bytes of %s: %w", p, err)
	}
	return total, nil
}

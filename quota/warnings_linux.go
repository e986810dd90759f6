package quota

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Quota netlink interface, <linux/quota.h> (CONFIG_QUOTA_NETLINK_INTERFACE):
// the kernel multicasts a message for each quota warning on generic
// netlink family "VFS_DQUOT", group "events".
const (
	quotaGenlFamily = "VFS_DQUOT"
	quotaGenlGroup  = "events"

	quotaNlCWarning = 1 // QUOTA_NL_C_WARNING

	quotaNlAQtype    = 1 // u32: USRQUOTA, GRPQUOTA, PRJQUOTA
	quotaNlAExcessID = 2 // u64: the user, group or project over its quota
	quotaNlAWarning  = 3 // u32: QUOTA_NL_*WARN
	quotaNlADevMajor = 4 // u32
	quotaNlADevMinor = 5 // u32
	quotaNlACausedID = 6 // u64: the UID whose write caused it
	quotaNlIHardWarn = 1 // QUOTA_NL_IHARDWARN: inode hard limit hit
	quotaNlISoftLong = 2 // QUOTA_NL_ISOFTLONGWARN: inode grace over, refused
	quotaNlBHardWarn = 4 // QUOTA_NL_BHARDWARN: block hard limit hit
	quotaNlBSoftLong = 5 // QUOTA_NL_BSOFTLONGWARN: block grace over, refused
	genlHeaderLen    = 4 // struct genlmsghdr
	// nlaTypeMask strips NLA_F_NESTED and NLA_F_NET_BYTEORDER.
	nlaTypeMask = 0x3fff
)

// WarningKey names what a quota warning is about: one quota of one
// filesystem.
type WarningKey struct {
	Major, Minor uint32 // the filesystem's device
	Type         uint32 // 0 user, 1 group, 2 project
	ID           uint64 // the user, group or project
}

// A Warning is one quota warning of the kernel.
type Warning struct {
	Key WarningKey
	// Kind is QUOTA_NL_*WARN or QUOTA_NL_*BELOW.
	Kind uint32
	// Caused is the UID (in the initial namespace) whose write caused it.
	Caused uint64
}

// Refused tells whether the warning is of a write (or a create) the quota
// refused: a hard limit hit, or a soft limit whose grace time is over.
// ext4's quota sends one per crossing of the limit, until use drops
// again; XFS sends one for each refused write.
func (w Warning) Refused() bool {
	switch w.Kind {
	case quotaNlIHardWarn, quotaNlISoftLong, quotaNlBHardWarn, quotaNlBSoftLong:
		return true
	}
	return false
}

// Warnings is a subscription to the kernel's quota warnings.
type Warnings struct {
	f    *os.File
	done chan struct{}
	once sync.Once
}

// WatchWarnings subscribes to the kernel's quota warnings of every
// filesystem and calls fn for each, from a goroutine of its own, until
// Close. A kernel without the quota netlink interface gives an error
// wrapping ErrNoWarnings.
func WatchWarnings(fn func(Warning)) (*Warnings, error) {
	fam, err := netlink.GenlFamilyGet(quotaGenlFamily)
	if err != nil {
		return nil, fmt.Errorf("generic netlink family %s: %w: %w", quotaGenlFamily, ErrNoWarnings, err)
	}
	group := uint32(0)
	for _, g := range fam.Groups {
		if g.Name == quotaGenlGroup {
			group = g.ID
		}
	}
	if group == 0 {
		return nil, fmt.Errorf("generic netlink family %s has no group %q: %w", quotaGenlFamily, quotaGenlGroup, ErrNoWarnings)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("generic netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind generic netlink socket: %w", err)
	}
	// Generic netlink groups get IDs above 31 too, which the bind's
	// bitmask cannot name.
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, int(group)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("join netlink group %s/%s: %w", quotaGenlFamily, quotaGenlGroup, err)
	}
	// Non-blocking and through os.File, so the runtime's poller waits
	// for messages and Close wakes the reader.
	w := &Warnings{f: os.NewFile(uintptr(fd), "quota-netlink"), done: make(chan struct{})}
	go w.read(fn)
	return w, nil
}

// ErrNoWarnings says the kernel sends no quota warnings (built without
// CONFIG_QUOTA_NETLINK_INTERFACE).
var ErrNoWarnings = errors.New("kernel sends no quota warnings")

func (w *Warnings) read(fn func(Warning)) {
	defer close(w.done)
	buf := make([]byte, 1<<16)
	for {
		n, err := w.f.Read(buf)
		if errors.Is(err, unix.ENOBUFS) {
			// Warnings came faster than read; the lost ones are lost,
			// the socket goes on.
			continue
		}
		if err != nil {
			return
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if wn, ok := parseWarning(m.Data); ok {
				fn(wn)
			}
		}
	}
}

// parseWarning decodes a QUOTA_NL_C_WARNING message after its netlink
// header: a genlmsghdr, then attributes in the route-attribute layout.
func parseWarning(b []byte) (Warning, bool) {
	if len(b) < genlHeaderLen || b[0] != quotaNlCWarning {
		return Warning{}, false
	}
	attrs, err := nl.ParseRouteAttr(b[genlHeaderLen:])
	if err != nil {
		return Warning{}, false
	}
	var w Warning
	seen := false
	for _, a := range attrs {
		v := a.Value
		u32 := func() uint32 {
			if len(v) < 4 {
				return 0
			}
			return binary.NativeEndian.Uint32(v)
		}
		u64 := func() uint64 {
			if len(v) < 8 {
				return 0
			}
			return binary.NativeEndian.Uint64(v)
		}
		switch a.Attr.Type & nlaTypeMask {
		case quotaNlAQtype:
			w.Key.Type = u32()
		case quotaNlAExcessID:
			w.Key.ID = u64()
		case quotaNlAWarning:
			w.Kind, seen = u32(), true
		case quotaNlADevMajor:
			w.Key.Major = u32()
		case quotaNlADevMinor:
			w.Key.Minor = u32()
		case quotaNlACausedID:
			w.Caused = u64()
		}
	}
	return w, seen
}

// Close ends the subscription and waits for fn's last call.
func (w *Warnings) Close() {
	w.once.Do(func() {
		w.f.Close()
		<-w.done
	})
}

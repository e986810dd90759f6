//go:build linux

package namespaces

// Counts an unprivileged zone cannot raise. The kernel counts what each
// user namespace and its descendants create (namespaces of every kind,
// inotify and fanotify objects) and checks each count against the
// maximum in /proc/sys/user/max_* of every namespace on the way up. A new
// user namespace starts with no maximum of its own (INT_MAX), so a zone's
// only bound was the host's per-user one, charged to host root, the
// owner of every zone's user namespace: a zone could create a hundred
// thousand mount namespaces, each allowed fs.mount-max (100,000) mounts,
// and its inotify instances use up host root's own.
//
// The zone's init, still zoned's code and root of the zone's new user
// namespace, writes the zone's maxima there before anything of the zone
// runs (the files show the user namespace of the process that opens
// them). Writing them needs CAP_SYS_RESOURCE in that namespace, which an
// unprivileged zone therefore does not keep (UserNSCapabilities). A user
// namespace the zone nests inside comes with all capabilities and may set
// its own maxima as high as it likes, but every object it creates is
// counted in the zone's namespace too, against zoned's maxima.

import (
	"fmt"
	"slices"
	"sort"

	"github.com/zoned-project/zoned/errdefs"
)

// UserNSLimits are maxima for an unprivileged zone's user namespace: the
// name of a file in /proc/sys/user ("max_mnt_namespaces") to its value.
// Names this kernel lacks are skipped (max_time_namespaces came in 5.6,
// the fanotify ones in 5.13).
type UserNSLimits map[string]int64

// userLimitNames are the maxima zoned knows.
var userLimitNames = []string{
	"max_cgroup_namespaces", "max_ipc_namespaces", "max_mnt_namespaces",
	"max_net_namespaces", "max_pid_namespaces", "max_time_namespaces",
	"max_user_namespaces", "max_uts_namespaces",
	"max_inotify_instances", "max_inotify_watches",
	"max_fanotify_groups", "max_fanotify_marks",
}

// DefaultUserNSLimits are the maxima a zone gets unless the operator sets
// others. Each namespace the zone holds counts, its own first ones
// included. systemd gives a sandboxed service (PrivateTmp=,
// ProtectSystem=, PrivateNetwork=) a mount namespace and sometimes a
// network, UTS or IPC one; a busy guest runs a few dozen such services,
// a container engine inside adds one of each per container: 256 of each
// kind is ample, and caps a storm at 256 mount namespaces (each still
// bounded by fs.mount-max). User namespaces nest only for sandboxes and
// rootless containers: 64. inotify: systemd, journald, logind and dbus
// use a few dozen instances; watches follow the host's default per user
// (65536 on small hosts); fanotify is rare in a guest.
func DefaultUserNSLimits() UserNSLimits {
	return UserNSLimits{
		"max_cgroup_namespaces": 256, "max_ipc_namespaces": 256,
		"max_mnt_namespaces": 256, "max_net_namespaces": 256,
		"max_pid_namespaces": 256, "max_time_namespaces": 256,
		"max_uts_namespaces": 256, "max_user_namespaces": 64,
		"max_inotify_instances": 128, "max_inotify_watches": 65536,
		"max_fanotify_groups": 16, "max_fanotify_marks": 8192,
	}
}

// Validate rejects names zoned does not know and negative values.
func (l UserNSLimits) Validate() error {
	for _, k := range l.names() {
		if !slices.Contains(userLimitNames, k) {
			return fmt.Errorf("user namespace limit %q: unknown (known: %v): %w", k, userLimitNames, errdefs.ErrInvalid)
		}
		if v := l[k]; v < 0 || v > 1<<31-1 {
			return fmt.Errorf("user namespace limit %s = %d: must be 0..%d: %w", k, v, 1<<31-1, errdefs.ErrInvalid)
		}
	}
	return nil
}

func (l UserNSLimits) names() []string {
	out := make([]string, 0, len(l))
	for k := range l {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// UserNSCapabilities is the bounding set an unprivileged zone keeps out of
// keep (nil means DefaultCapabilities()): everything but CAP_SYS_RESOURCE,
// which would let it raise the maxima zoned set in its user namespace.
// Inside a user namespace the capability grants little else: the resource
// limits it overrides elsewhere (hard rlimits, pipe sizes, reserved
// blocks) are checked against the host's namespace.
func UserNSCapabilities(keep []string) []string {
	if keep == nil {
		keep = DefaultCapabilities()
	}
	out := make([]string, 0, len(keep))
	for _, c := range keep {
		if set, err := capSet([]string{c}); err == nil && set[capNumbers["CAP_SYS_RESOURCE"]] {
			continue
		}
		out = append(out, c)
	}
	return out
}

package fsshare

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/zoned-project/zoned/errdefs"
)

// DefaultMirror is used when the host's apt sources name none.
const DefaultMirror = "http://deb.debian.org/debian"

// DebootstrapOptions says what Debian root to build.
type DebootstrapOptions struct {
	Suite   string   // "bookworm"
	Mirror  string   // default: the host's Debian mirror, else DefaultMirror
	Include []string // extra packages ("systemd-sysv", "dbus")
	Variant string   // debootstrap variant, default "minbase"
}

var (
	suiteRe   = regexp.MustCompile(`^[a-z][a-z0-9.-]{0,39}$`)
	packageRe = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]{0,99}$`)
	mirrorRe  = regexp.MustCompile(`^(https?|file)://[^\s,]+$`)
)

// normalize checks the options (they end up on debootstrap's command line,
// so nothing may look like a flag) and fills in defaults.
func (o *DebootstrapOptions) normalize() error {
	if o.Variant == "" {
		o.Variant = "minbase"
	}
	switch o.Variant {
	case "minbase", "buildd", "-":
	default:
		return fmt.Errorf("debootstrap variant %q: use minbase, buildd or -: %w", o.Variant, errdefs.ErrInvalid)
	}
	if !suiteRe.MatchString(o.Suite) {
		return fmt.Errorf("suite %q is not a Debian suite name: %w", o.Suite, errdefs.ErrInvalid)
	}
	if o.Mirror == "" {
		o.Mirror = hostMirror()
	}
	if !mirrorRe.MatchString(o.Mirror) {
		return fmt.Errorf("mirror %q must be an http, https or file URL: %w", o.Mirror, errdefs.ErrInvalid)
	}
	inc := map[string]bool{}
	for _, p := range o.Include {
		if !packageRe.MatchString(p) {
			return fmt.Errorf("package name %q: %w", p, errdefs.ErrInvalid)
		}
		inc[p] = true
	}
	o.Include = o.Include[:0]
	for p := range inc {
		o.Include = append(o.Include, p)
	}
	sort.Strings(o.Include)
	return nil
}

// cacheKey names the cached root: options that change its content.
func (o *DebootstrapOptions) cacheKey() string {
	h := sha256.Sum256([]byte(strings.Join(o.Include, ",")))
	variant := o.Variant
	if variant == "-" {
		variant = "default"
	}
	return fmt.Sprintf("%s-%s-%s.tar.zst", o.Suite, variant, hex.EncodeToString(h[:8]))
}

// hostMirror reads the Debian mirror the host's apt uses, so template
// builds go where the host's own updates go (and through its proxy rules).
func hostMirror() string {
	if b, err := os.ReadFile("/etc/apt/sources.list.d/debian.sources"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "URIs:"); ok {
				for _, u := range strings.Fields(rest) {
					if !strings.Contains(u, "security") {
						return strings.TrimSuffix(u, "/")
					}
				}
			}
		}
	}
	if b, err := os.ReadFile("/etc/apt/sources.list"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "deb" {
				u := f[1]
				if strings.HasPrefix(u, "[") { // deb [arch=amd64] URL ...
					for i := 1; i < len(f); i++ {
						if strings.HasSuffix(f[i], "]") && i+1 < len(f) {
							u = f[i+1]
							break
						}
					}
				}
				if !strings.Contains(u, "security") {
					return strings.TrimSuffix(u, "/")
				}
			}
		}
	}
	return DefaultMirror
}

// Debootstrap builds template name as a Debian root with debootstrap,
// prepared to boot as a zone, or restores it from the cache of an earlier
// build with the same options.
func (s *Storage) Debootstrap(ctx context.Context, name string, opts DebootstrapOptions, progress ProgressFunc) error {
	if err := opts.normalize(); err != nil {
		return fmt.Errorf("debootstrap template %q: %w", name, err)
	}
	st, err := s.newStaging(name)
	if err != nil {
		return err
	}
	if err := s.debootstrapInto(ctx, st.Root, opts, progress); err != nil {
		st.discard()
		return fmt.Errorf("debootstrap template %q: %w", name, err)
	}
	if err := s.publish(st, name); err != nil {
		st.discard()
		return err
	}
	report(progress, 100, "template ready")
	return nil
}

func (s *Storage) debootstrapInto(ctx context.Context, root string, opts DebootstrapOptions, progress ProgressFunc) error {
	cache := filepath.Join(s.debootstrapCache(), opts.cacheKey())
	if f, err := os.Open(cache); err == nil {
		report(progress, 1, "restoring cached "+opts.Suite+" root")
		err := importArchive(ctx, root, f, func(pc int, msg string) { report(progress, pc*9/10, msg) }, s.ImportLimits())
		f.Close()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A cache that does not extract is worth nothing: drop it and
		// build afresh into an emptied root.
		os.Remove(cache)
		if err := emptyDir(root); err != nil {
			return err
		}
	}
	if err := ensureDebootstrap(ctx); err != nil {
		return err
	}
	if err := runDebootstrap(ctx, root, opts, progress); err != nil {
		return err
	}
	report(progress, 92, "preparing the root for life as a zone")
	if err := prepareDebianRoot(root); err != nil {
		return fmt.Errorf("prepare root: %w", err)
	}
	report(progress, 95, "caching the root")
	// A failed cache write costs the next build time, not this one.
	_ = writeCache(ctx, root, cache)
	return nil
}

func ensureDebootstrap(ctx context.Context) error {
	if _, err := exec.LookPath("debootstrap"); err == nil {
		return nil
	}
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-q", "debootstrap")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("install debootstrap: %w: %s", err, tail(string(out), 5))
	}
	return nil
}

// debootstrapPhases maps debootstrap's "I:" lines to progress ranges.
// debootstrap never says how many packages it will fetch, so within a phase
// progress creeps towards the phase's end with every line.
var debootstrapPhases = []struct {
	prefix     string
	start, end int
}{
	{"Retrieving InRelease", 1, 3},
	{"Retrieving Release", 1, 3},
	{"Checking Release", 3, 4},
	{"Valid Release", 3, 4},
	{"Retrieving Packages", 4, 6},
	{"Validating Packages", 4, 6},
	{"Resolving dependencies", 6, 8},
	{"Found ", 6, 8},
	{"Checking component", 6, 8},
	{"Retrieving ", 8, 40},
	{"Validating ", 8, 40},
	{"Extracting ", 40, 50},
	{"Installing core", 50, 52},
	{"Unpacking required", 52, 60},
	{"Configuring required", 60, 65},
	{"Unpacking the base", 65, 72},
	{"Unpacking ", 52, 72},
	{"Configuring the base", 72, 90},
	{"Configuring ", 60, 90},
	{"Base system installed", 90, 90},
}

type debootstrapProgress struct {
	percent int
	phase   string
	inPhase int
}

// line turns one output line into a percentage that never goes back.
func (p *debootstrapProgress) line(l string) (int, string, bool) {
	msg, ok := strings.CutPrefix(l, "I: ")
	if !ok {
		return 0, "", false
	}
	for _, ph := range debootstrapPhases {
		if !strings.HasPrefix(msg, ph.prefix) {
			continue
		}
		if p.phase != ph.prefix {
			p.phase, p.inPhase = ph.prefix, 0
		}
		p.inPhase++
		// start + span * n/(n+30): half way after 30 lines, never at the end.
		pc := ph.start + (ph.end-ph.start)*p.inPhase/(p.inPhase+30)
		if pc > p.percent {
			p.percent = pc
		}
		return p.percent, msg, true
	}
	return p.percent, msg, true
}

func runDebootstrap(ctx context.Context, root string, opts DebootstrapOptions, progress ProgressFunc) error {
	args := []string{"--variant=" + opts.Variant}
	if len(opts.Include) > 0 {
		args = append(args, "--include="+strings.Join(opts.Include, ","))
	}
	args = append(args, opts.Suite, root, opts.Mirror)
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	// Its own process group, so cancelling kills dpkg and friends too,
	// not only the debootstrap shell script.
	// Pdeathsig: a daemon killed outright takes the build with it, and
	// the next daemon rolls the template back (manager's restart handler).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("start debootstrap: %w", err)
	}
	pw.Close()
	var last []string
	var prog debootstrapProgress
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		l := sc.Text()
		last = append(last, l)
		if len(last) > 20 {
			last = last[1:]
		}
		if pc, msg, ok := prog.line(l); ok {
			report(progress, pc, msg)
		}
	}
	pr.Close()
	err = cmd.Wait()
	// debootstrap mounts /proc and /sys in the target while it works and
	// may leave them when killed; they are ours to remove.
	if uerr := unmountUnder(root); uerr != nil && err == nil {
		err = uerr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		msg := strings.Join(last, "\n")
		if b, rerr := os.ReadFile(filepath.Join(root, "debootstrap", "debootstrap.log")); rerr == nil {
			msg += "\ndebootstrap.log:\n" + tail(string(b), 15)
		}
		return fmt.Errorf("debootstrap %s: %w:\n%s", strings.Join(args, " "), err, msg)
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// maskedUnits cannot work inside a zone; each is masked (linked to
// /dev/null) in systemd templates so the boot neither waits on them nor
// reports them failed.
var maskedUnits = []struct{ unit, why string }{
	// No uevents reach a container and /sys is read-only: udev has nothing
	// to manage, zoned populates /dev.
	{"systemd-udevd.service", "no uevents or device management in a zone; zoned populates /dev"},
	{"systemd-udevd-control.socket", "belongs to systemd-udevd, which cannot run in a zone"},
	{"systemd-udevd-kernel.socket", "belongs to systemd-udevd, which cannot run in a zone"},
	{"systemd-udev-trigger.service", "would replay uevents for the host's devices"},
	{"systemd-udev-settle.service", "waits for udev, which does not run in a zone"},
	// Kernel filesystems of the host, not mountable from a zone.
	{"sys-kernel-debug.mount", "debugfs is the host's; a zone cannot mount it"},
	{"sys-kernel-tracing.mount", "tracefs is the host's; a zone cannot mount it"},
	{"sys-kernel-config.mount", "configfs is the host's; a zone cannot mount it"},
	{"sys-fs-fuse-connections.mount", "fusectl is the host's; a zone cannot mount it"},
	{"dev-hugepages.mount", "huge pages are managed by the host"},
	{"proc-sys-fs-binfmt_misc.automount", "binfmt_misc registrations would be the host's"},
	{"proc-sys-fs-binfmt_misc.mount", "binfmt_misc registrations would be the host's"},
	{"systemd-binfmt.service", "binfmt_misc registrations would be the host's"},
	{"systemd-modules-load.service", "a zone cannot load kernel modules"},
	{"kmod-static-nodes.service", "device nodes come from zoned, not from kmod"},
	{"systemd-hwdb-update.service", "no hardware to describe in a zone"},
	// No virtual terminals in a zone: console-getty.service serves /dev/console.
	{"getty@tty1.service", "no virtual terminals in a zone; console-getty serves /dev/console"},
	{"getty-static.service", "no virtual terminals in a zone"},
	// Audit is not namespaced; the socket fails to bind in a zone.
	{"systemd-journald-audit.socket", "the audit netlink socket is not namespaced"},
	// zoned writes /etc/machine-id and the hostname before the first boot;
	// firstboot would otherwise prompt on the console and hang the boot.
	{"systemd-firstboot.service", "zoned configures machine-id and hostname; firstboot would prompt on the console"},
	{"systemd-machine-id-commit.service", "/etc/machine-id is written by zoned"},
	{"systemd-timesyncd.service", "the clock is the host's; a zone cannot set it"},
	{"systemd-remount-fs.service", "the root is mounted by zoned, /etc/fstab is empty"},
}

// prepareDebianRoot adapts a freshly bootstrapped root to being a template:
// per-zone identity files empty (zoned writes them per zone), no device
// nodes (zoned provides /dev), no host-only units.
func prepareDebianRoot(root string) error {
	for _, f := range []struct {
		path    string
		content string
		mode    os.FileMode
	}{
		// Empty, not absent: systemd then generates one if zoned did not
		// write it, and never treats the zone as a first boot needing input.
		{"etc/machine-id", "", 0o444},
		{"etc/hostname", "localhost\n", 0o644},
		{"etc/fstab", "# The zone's root is mounted by zoned.\n", 0o644},
		// A regular file, not a symlink into /run: zoned writes the
		// zone's resolvers into its own layer.
		{"etc/resolv.conf", "", 0o644},
	} {
		p := filepath.Join(root, f.path)
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := os.WriteFile(p, []byte(f.content), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	if err := emptyDir(filepath.Join(root, "dev")); err != nil {
		return err
	}
	for _, d := range []string{"var/cache/apt/archives", "var/lib/apt/lists", "debootstrap"} {
		entries, _ := os.ReadDir(filepath.Join(root, d))
		for _, e := range entries {
			if e.Name() == "partial" || e.Name() == "lock" {
				continue
			}
			os.RemoveAll(filepath.Join(root, d, e.Name()))
		}
	}
	os.Remove(filepath.Join(root, "debootstrap"))
	info, err := detectInit(root)
	if err != nil {
		return err
	}
	if info.Kind != InitSystemd {
		return nil
	}
	sysd := filepath.Join(root, "etc", "systemd", "system")
	if err := os.MkdirAll(sysd, 0o755); err != nil {
		return err
	}
	var readme strings.Builder
	readme.WriteString("# Units masked by zoned because they cannot work inside a zone.\n# Unmask one with `systemctl unmask UNIT` if you know better.\n")
	for _, m := range maskedUnits {
		p := filepath.Join(sysd, m.unit)
		os.Remove(p)
		if err := os.Symlink("/dev/null", p); err != nil {
			return err
		}
		fmt.Fprintf(&readme, "%-36s %s\n", m.unit, m.why)
	}
	return os.WriteFile(filepath.Join(sysd, "README.zoned-masked"), []byte(readme.String()), 0o644)
}

// emptyDir removes everything inside dir, keeping dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// writeCache stores root as a zstd tarball at dst, through a temporary
// file renamed into place, so a reader never sees half a cache.
func writeCache(ctx context.Context, root, dst string) (err error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*.tar.zst")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	zw, err := zstd.NewWriter(f, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(zw, 1<<20)
	if err := writeTar(ctx, root, bw); err != nil {
		zw.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}

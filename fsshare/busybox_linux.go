package fsshare

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// busyboxBinary returns the path of a static busybox extracted from Debian's
// busybox-static package, downloading the package into cacheDir the first
// time (Debian's own package keeps the built-in template free of any
// download beyond Debian's archive). The host's own busybox is not used: Debian's default one is
// dynamically linked and would need the host's libc inside every zone.
func busyboxBinary(ctx context.Context, cacheDir string) (string, error) {
	bin := filepath.Join(cacheDir, "busybox-static", "bin", "busybox")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	debs, _ := filepath.Glob(filepath.Join(cacheDir, "busybox-static_*.deb"))
	if len(debs) == 0 {
		download := func() ([]byte, error) {
			cmd := exec.CommandContext(ctx, "apt-get", "download", "busybox-static")
			cmd.Dir = cacheDir
			return cmd.CombinedOutput()
		}
		out, err := download()
		if err != nil {
			// A fresh machine may have no package lists yet.
			if upd, uerr := exec.CommandContext(ctx, "apt-get", "update", "-qq").CombinedOutput(); uerr != nil {
				return "", fmt.Errorf("apt-get update: %w: %s", uerr, bytes.TrimSpace(upd))
			}
			if out, err = download(); err != nil {
				return "", fmt.Errorf("apt-get download busybox-static: %w: %s", err, bytes.TrimSpace(out))
			}
		}
		debs, _ = filepath.Glob(filepath.Join(cacheDir, "busybox-static_*.deb"))
		if len(debs) == 0 {
			return "", fmt.Errorf("apt-get download busybox-static left no package in %s", cacheDir)
		}
	}
	tmp, err := os.MkdirTemp(cacheDir, ".busybox-static-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[len(debs)-1], tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpack %s: %w: %s", debs[len(debs)-1], err, bytes.TrimSpace(out))
	}
	// Rename into place so a half-unpacked tree is never taken for the cache.
	if err := os.Rename(tmp, filepath.Dir(filepath.Dir(bin))); err != nil && !os.IsExist(err) {
		return "", err
	}
	return bin, nil
}

// busyboxInittab runs rcS at boot and rcK at shutdown. There is no getty on
// the console: nobody has a password in the built-in template, and a getty
// respawning on a console whose daemon end went away would spin.
const busyboxInittab = `::sysinit:/etc/init.d/rcS
::askfirst:-/bin/sh
::shutdown:/etc/init.d/rcK
::ctrlaltdel:/sbin/reboot
`

const busyboxRcS = `#!/bin/sh
# Boot script of zoned's built-in busybox template.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
[ -s /etc/hostname ] && hostname -F /etc/hostname
ip link set lo up 2>/dev/null
for s in /etc/rc.d/S*; do [ -x "$s" ] && "$s" start; done
echo "zone $(hostname) is up"
`

const busyboxRcK = `#!/bin/sh
# Shutdown script of zoned's built-in busybox template.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
for s in /etc/rc.d/K*; do [ -x "$s" ] && "$s" stop; done
echo "zone $(hostname) is going down"
`

// BuildBusyboxRoot writes a minimal busybox system into dir, which must be
// empty or absent: static busybox, an applet symlink for every command,
// /sbin/init (busybox init) with an inittab that runs /etc/init.d/rcS and a
// shell on the console once Enter is pressed there (zonectl console), and
// the usual /etc files. busybox init powers off on SIGUSR2, which is what
// zoned sends to stop such a zone.
func BuildBusyboxRoot(ctx context.Context, cacheDir, dir string) error {
	bb, err := busyboxBinary(ctx, cacheDir)
	if err != nil {
		return fmt.Errorf("get busybox-static: %w", err)
	}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc/init.d", "etc/rc.d", "dev", "proc", "sys", "run", "root", "home", "var/log", "var/run", "mnt"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(dir, "root"), 0o700); err != nil {
		return err
	}
	if err := copyFile(bb, filepath.Join(dir, "bin", "busybox"), 0o755); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, bb, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("list busybox applets: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "bin/busybox" || strings.Contains(applet, "..") {
			continue
		}
		link := filepath.Join(dir, applet)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/bin/busybox", link); err != nil && !os.IsExist(err) {
			return fmt.Errorf("link applet %s: %w", applet, err)
		}
	}
	files := []struct {
		path, content string
		mode          os.FileMode
	}{
		{"etc/inittab", busyboxInittab, 0o644},
		{"etc/init.d/rcS", busyboxRcS, 0o755},
		{"etc/init.d/rcK", busyboxRcK, 0o755},
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0o644},
		{"etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644},
		{"etc/shadow", "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n", 0o600},
		{"etc/hostname", "zone\n", 0o644},
		{"etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0o644},
		{"etc/profile", "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1='\\h:\\w\\$ '\n", 0o644},
		{"etc/os-release", "NAME=\"zoned busybox\"\nID=busybox\nPRETTY_NAME=\"zoned built-in busybox template\"\n", 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.path), []byte(f.content), f.mode); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}

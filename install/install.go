//go:build linux

// Package install puts zoned on a host as a systemd service and takes it
// off again: the zoned and zonectl binaries, the units embedded in the
// binary (dist/systemd), the "zoned" group that may use the API socket,
// and, where systemd is PID 1, the enabled and started socket. It is what
// `zoned install` and `zoned uninstall` run.
package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/dist/systemd"
	"github.com/zoned-project/zoned/internal/atomicfile"
	"github.com/zoned-project/zoned/procview"
)

// Group is the group whose members may use the API socket.
const Group = "zoned"

// Defaults of Options.
const (
	DefaultPrefix  = "/usr/local"
	DefaultUnitDir = "/etc/systemd/system"
	DefaultDataDir = "/var/lib/zoned"
	DefaultSocket  = "/run/zoned/zoned.sock"
)

// Options say where things go. Zero values mean the defaults.
type Options struct {
	// Prefix: binaries go to Prefix/bin, and the units run them from there.
	Prefix string
	// UnitDir is where the unit files go.
	UnitDir string
	// Zoned and Zonectl are the binaries to install; Zoned defaults to
	// the running executable, Zonectl to the zonectl beside it.
	Zoned, Zonectl string
	// Systemd says whether to drive systemctl; nil means "if systemd is
	// PID 1" (SystemdBooted).
	Systemd *bool
	// Out receives one line per thing done.
	Out io.Writer
}

func (o *Options) defaults() error {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.UnitDir == "" {
		o.UnitDir = DefaultUnitDir
	}
	if !filepath.IsAbs(o.Prefix) || !filepath.IsAbs(o.UnitDir) {
		return fmt.Errorf("prefix %q and unit directory %q must be absolute paths", o.Prefix, o.UnitDir)
	}
	if o.Systemd == nil {
		b := SystemdBooted()
		o.Systemd = &b
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	return nil
}

func (o *Options) binDir() string { return filepath.Join(o.Prefix, "bin") }

// Unit names, in the order they are enabled.
var units = []string{"zoned.socket", "zoned.service", "zoned-shutdown.service"}

// SystemdBooted reports whether systemd is PID 1 (sd_booted(3)).
func SystemdBooted() bool {
	st, err := os.Stat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// Install copies the binaries, writes the units, makes the group and, under
// systemd, enables the units, starts the socket and restarts a daemon that
// was already running (an upgrade: zones keep running).
func Install(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	zoned, zonectl, err := o.sources()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.binDir(), 0o755); err != nil {
		return fmt.Errorf("make %s: %w", o.binDir(), err)
	}
	for _, b := range []struct{ src, name string }{{zoned, "zoned"}, {zonectl, "zonectl"}} {
		dst := filepath.Join(o.binDir(), b.name)
		if err := copyFile(b.src, dst, 0o755); err != nil {
			return fmt.Errorf("install %s: %w", b.name, err)
		}
		fmt.Fprintf(o.Out, "installed %s\n", dst)
	}
	if err := os.MkdirAll(o.UnitDir, 0o755); err != nil {
		return fmt.Errorf("make %s: %w", o.UnitDir, err)
	}
	for _, u := range units {
		data, err := Unit(u, o.binDir())
		if err != nil {
			return err
		}
		dst := filepath.Join(o.UnitDir, u)
		if err := writeFileAtomic(dst, data, 0o644); err != nil {
			return fmt.Errorf("write unit %s: %w", u, err)
		}
		fmt.Fprintf(o.Out, "wrote %s\n", dst)
	}
	if _, err := user.LookupGroup(Group); err != nil {
		if err := run(ctx, o.Out, "groupadd", "--system", Group); err != nil {
			return fmt.Errorf("create group %s: %w", Group, err)
		}
		fmt.Fprintf(o.Out, "created system group %s (its members may use the API socket)\n", Group)
	}
	if !*o.Systemd {
		fmt.Fprintf(o.Out, "systemd is not PID 1 here: units written but not enabled; start %s yourself\n", filepath.Join(o.binDir(), "zoned"))
		return nil
	}
	steps := [][]string{
		{"systemctl", "daemon-reload"},
		// zoned.service is enabled too: autostart zones need the daemon at
		// boot, not at the first API call.
		append([]string{"systemctl", "enable"}, units...),
		{"systemctl", "start", "zoned.socket", "zoned-shutdown.service"},
		// An upgrade: a running daemon is replaced; zones keep running.
		{"systemctl", "try-restart", "zoned.service"},
	}
	for _, s := range steps {
		if err := run(ctx, o.Out, s[0], s[1:]...); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "ran %s\n", strings.Join(s, " "))
	}
	fmt.Fprintf(o.Out, "zoned.socket listens on %s; zoned starts on the first request and at boot\n", DefaultSocket)
	return nil
}

// UninstallOptions add what uninstall alone needs.
type UninstallOptions struct {
	Options
	// Purge also deletes DataDir (the store, templates and every zone's
	// files) and the group. Refused while zones run.
	Purge   bool
	DataDir string
	// Socket is where to ask the daemon about running zones.
	Socket string
}

// Uninstall stops and disables the units, removes them and the binaries.
// Running zones keep running (a later install adopts them); the data
// directory and the group stay unless Purge.
func Uninstall(ctx context.Context, o UninstallOptions) error {
	if err := o.defaults(); err != nil {
		return err
	}
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.Socket == "" {
		o.Socket = DefaultSocket
	}
	running, err := runningZones(ctx, o.Socket)
	if err != nil {
		fmt.Fprintf(o.Out, "could not ask zoned about running zones: %v\n", err)
	}
	if len(running) > 0 {
		if o.Purge {
			return fmt.Errorf("zones %s are running: stop or destroy them before --purge deletes their files", strings.Join(running, ", "))
		}
		fmt.Fprintf(o.Out, "zones %s keep running without a daemon; install zoned again to manage them\n", strings.Join(running, ", "))
	}
	if err == nil && len(running) == 0 {
		// The /proc view server outlives the daemon for running zones;
		// with none, nothing of zoned stays running or mounted.
		if err := procview.Stop(filepath.Join(o.DataDir, "procview")); err != nil {
			fmt.Fprintf(o.Out, "stop the zones' /proc view: %v\n", err)
		}
	}
	if *o.Systemd {
		// Stopping zoned-shutdown.service does not stop zones: its
		// command acts only while the host shuts down.
		s := append([]string{"systemctl", "disable", "--now"}, units...)
		if err := run(ctx, o.Out, s[0], s[1:]...); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "ran %s\n", strings.Join(s, " "))
	}
	for _, u := range units {
		p := filepath.Join(o.UnitDir, u)
		if err := os.Remove(p); err == nil {
			fmt.Fprintf(o.Out, "removed %s\n", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if *o.Systemd {
		if err := run(ctx, o.Out, "systemctl", "daemon-reload"); err != nil {
			return err
		}
		fmt.Fprintln(o.Out, "ran systemctl daemon-reload")
	}
	for _, b := range []string{"zoned", "zonectl"} {
		p := filepath.Join(o.binDir(), b)
		if err := os.Remove(p); err == nil {
			fmt.Fprintf(o.Out, "removed %s\n", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if !o.Purge {
		fmt.Fprintf(o.Out, "kept %s and the group %s (--purge removes them)\n", o.DataDir, Group)
		return nil
	}
	if err := os.RemoveAll(o.DataDir); err != nil {
		return fmt.Errorf("purge %s: %w", o.DataDir, err)
	}
	fmt.Fprintf(o.Out, "removed %s\n", o.DataDir)
	if _, err := user.LookupGroup(Group); err == nil {
		if err := run(ctx, o.Out, "groupdel", Group); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "removed group %s\n", Group)
	}
	return nil
}

// Unit returns the named unit file with its commands pointing at binDir.
func Unit(name, binDir string) ([]byte, error) {
	data, err := systemd.Units.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("unit %s: %w", name, err)
	}
	return bytes.ReplaceAll(data, []byte(systemd.BinDir+"/"), []byte(binDir+"/")), nil
}

// sources finds the binaries to install.
func (o *Options) sources() (zoned, zonectl string, err error) {
	zoned = o.Zoned
	if zoned == "" {
		if zoned, err = os.Executable(); err != nil {
			return "", "", fmt.Errorf("find the zoned binary: %w", err)
		}
	}
	zonectl = o.Zonectl
	if zonectl == "" {
		zonectl = filepath.Join(filepath.Dir(zoned), "zonectl")
	}
	for _, p := range []string{zoned, zonectl} {
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			return "", "", fmt.Errorf("binary %s not found: build it (hack/build.sh) or name it with --zonectl", p)
		}
	}
	return zoned, zonectl, nil
}

// copyFile copies src to dst through a temporary file and a rename, so a
// running binary is replaced, never overwritten in place (ETXTBSY), and a
// half-copied binary is never seen. Copying a file onto itself does nothing.
func copyFile(src, dst string, mode os.FileMode) error {
	if a, err := os.Stat(src); err == nil {
		if b, err := os.Stat(dst); err == nil && os.SameFile(a, b) {
			return nil
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, mode, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

func writeFileAtomic(dst string, data []byte, mode os.FileMode) error {
	return atomicfile.WriteFile(dst, data, mode)
}

// run runs a command, passing its output on; its error names it.
func run(ctx context.Context, out io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(buf.String()))
	}
	_, _ = out.Write(buf.Bytes())
	return nil
}

// runningZones asks a daemon that answers on socket which zones run. A
// daemon that does not answer is not an error: nothing is known to run.
func runningZones(ctx context.Context, socket string) ([]string, error) {
	if _, err := os.Stat(socket); err != nil {
		return nil, nil
	}
	zones, err := client.New(socket).ListZones(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, z := range zones {
		if z.InitPID > 0 {
			names = append(names, z.Name)
		}
	}
	return names, nil
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/pki"
)

// remoteConfig is zonectl's list of remote daemons, kept in
// $XDG_CONFIG_HOME/zonectl (~/.config/zonectl): config.json, the client's
// key client.key (one key pair for every remote), and one certificate per
// remote under remotes/, as each daemon enrolled it.
type remoteConfig struct {
	dir string
	// Default is the remote commands go to without --remote; "" is the
	// local socket.
	Default string             `json:"default,omitempty"`
	Remotes map[string]*remote `json:"remotes"`
}

type remote struct {
	URL string `json:"url"`
	// Fingerprint is the daemon's certificate's, pinned at enrolment.
	Fingerprint string `json:"fingerprint"`
}

// localRemote names the local socket where a remote name is expected.
const localRemote = "local"

func configDir() (string, error) {
	if d := os.Getenv("ZONECTL_CONFIG"); d != "" {
		return d, nil
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find zonectl's configuration directory: %w", err)
	}
	return filepath.Join(base, "zonectl"), nil
}

func loadRemotes() (*remoteConfig, error) {
	dir, err := configDir()
	if err != nil {
		// No home (a service, nobody): no remotes, the socket only.
		// Naming a remote then fails as an unknown one.
		return &remoteConfig{Remotes: map[string]*remote{}}, nil
	}
	c := &remoteConfig{dir: dir, Remotes: map[string]*remote{}}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if errors.Is(err, os.ErrPermission) {
		// Another user's configuration (HOME kept across setpriv or
		// sudo): not ours, so no remotes, the socket only.
		return &remoteConfig{Remotes: map[string]*remote{}}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, "config.json"), err)
	}
	if c.Remotes == nil {
		c.Remotes = map[string]*remote{}
	}
	return c, nil
}

func (c *remoteConfig) save() error {
	if c.dir == "" {
		return fmt.Errorf("no configuration directory for zonectl: set $HOME or $ZONECTL_CONFIG")
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.dir, ".config.json.tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.dir, "config.json"))
}

func (c *remoteConfig) keyPath() string { return filepath.Join(c.dir, "client.key") }
func (c *remoteConfig) certPath(name string) string {
	return filepath.Join(c.dir, "remotes", name+".crt")
}

// key returns the client's key pair's key, made on first use.
func (c *remoteConfig) key() ([]byte, error) {
	if c.dir == "" {
		return nil, fmt.Errorf("no configuration directory for zonectl: set $HOME or $ZONECTL_CONFIG")
	}
	if b, err := os.ReadFile(c.keyPath()); err == nil {
		return b, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	b, err := pki.EncodeKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	// O_EXCL: two zonectls enrolling at once keep one key.
	f, err := os.OpenFile(c.keyPath(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return os.ReadFile(c.keyPath())
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	return b, f.Close()
}

// client returns a client for remote name.
func (c *remoteConfig) client(name string) (*client.Client, error) {
	r := c.Remotes[name]
	if r == nil {
		return nil, fmt.Errorf("no remote %q (zonectl remote list)", name)
	}
	cert, err := os.ReadFile(c.certPath(name))
	if err != nil {
		return nil, fmt.Errorf("remote %q: %w (add it again: zonectl remote add)", name, err)
	}
	key, err := os.ReadFile(c.keyPath())
	if err != nil {
		return nil, fmt.Errorf("remote %q: %w (add it again: zonectl remote add)", name, err)
	}
	return client.NewRemote(r.URL, cert, key, r.Fingerprint)
}

// splitRemote takes "NAME:zone" apart when NAME is a configured remote
// (or "local"); anything else is a plain zone name.
func (c *remoteConfig) splitRemote(arg string) (remoteName, rest string, ok bool) {
	name, rest, found := strings.Cut(arg, ":")
	if !found || rest == "" {
		return "", arg, false
	}
	if name == localRemote || c.Remotes[name] != nil {
		return name, rest, true
	}
	return "", arg, false
}

func newRemoteCmd(a *app) *cobra.Command {
	return groupCmd("remote", "Manage the zoned daemons zonectl reaches over HTTPS",
		`Add, list, remove and switch between remote zoned daemons. A remote is added
with a one-time token made on that daemon (zonectl trust add NAME): zonectl
makes or reuses its key pair, pins the daemon's certificate and enrols.
Commands then take --remote NAME, or NAME:zone as a zone argument; "local" is
the socket.`,
		`  zonectl remote add host2 https://host2:8443 --token zoned1.eyJ…
  zonectl list --remote host2
  zonectl exec host2:web1 -- uptime
  zonectl remote switch host2`,
		[]string{"remotes"},
		newRemoteAddCmd(a), newRemoteListCmd(a), newRemoteRemoveCmd(a), newRemoteSwitchCmd(a))
}

func newRemoteAddCmd(a *app) *cobra.Command {
	var token string
	cmd := &cobra.Command{
		Use:     "add NAME URL",
		Short:   "Enrol with a daemon and remember it",
		Long:    `Enrol with the daemon at URL (https://HOST[:PORT], port 8443 by default) using a one-time token from "zonectl trust add" on that daemon, and remember it as NAME.`,
		Example: `  zonectl remote add host2 https://host2:8443 --token zoned1.eyJ…`,
		Args:    needArgs("NAME", "URL"),
	}
	cmd.Flags().StringVar(&token, "token", "", "one-time token from `zonectl trust add` on the remote daemon (required)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name, url := args[0], args[1]
		if err := validate.Name("remote", name); err != nil || name == localRemote {
			return usagef("remote name %q: a short name, not %q", name, localRemote)
		}
		if token == "" {
			return usagef("--token is required: make one on the remote daemon with `zonectl trust add NAME`")
		}
		cfg, err := loadRemotes()
		if err != nil {
			return err
		}
		if cfg.Remotes[name] != nil {
			return fmt.Errorf("remote %q exists already (zonectl remote remove %s first)", name, name)
		}
		keyPEM, err := cfg.key()
		if err != nil {
			return err
		}
		key, err := client.ParseKey(keyPEM)
		if err != nil {
			return err
		}
		host, _ := os.Hostname()
		certPEM, c, err := client.Enrol(cmd.Context(), url, token, key, "zonectl@"+host)
		if err != nil {
			return err
		}
		info, err := c.Info(cmd.Context())
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(cfg.certPath(name)), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(cfg.certPath(name), certPEM, 0o600); err != nil {
			return err
		}
		cfg.Remotes[name] = &remote{URL: url, Fingerprint: info.ServerFingerprint}
		if err := cfg.save(); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "remote %s added: %s (zoned %s, %d zones), server certificate %s\n", name, url, info.Version, info.Zones, info.ServerFingerprint)
		return nil
	}
	return cmd
}

func newRemoteListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List remotes", Long: `List the remotes zonectl knows, with the default marked.`, Example: `  zonectl remote list`, Args: needArgs()}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		cfg, err := loadRemotes()
		if err != nil {
			return err
		}
		names := make([]string, 0, len(cfg.Remotes))
		for n := range cfg.Remotes {
			names = append(names, n)
		}
		sort.Strings(names)
		return writeData(a.stdout, *out, cfg, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tURL\tSERVER CERTIFICATE\tDEFAULT")
			fmt.Fprintf(tw, "%s\t%s\t-\t%v\n", localRemote, a.socket, cfg.Default == "")
			for _, n := range names {
				r := cfg.Remotes[n]
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", n, r.URL, r.Fingerprint, cfg.Default == n)
			}
			return tw.Flush()
		})
	}
	return cmd
}

func newRemoteRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use: "remove NAME", Aliases: []string{"rm"}, Short: "Forget a remote",
		Long:    `Forget a remote and its certificate. The daemon still trusts the certificate until its operator runs "zonectl trust remove".`,
		Example: `  zonectl remote remove host2`, Args: needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadRemotes()
			if err != nil {
				return err
			}
			if cfg.Remotes[args[0]] == nil {
				return fmt.Errorf("no remote %q", args[0])
			}
			delete(cfg.Remotes, args[0])
			if cfg.Default == args[0] {
				cfg.Default = ""
			}
			if err := os.Remove(cfg.certPath(args[0])); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return cfg.save()
		},
	}
}

func newRemoteSwitchCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use: "switch NAME", Short: "Make a remote the default",
		Long: `Send commands without --remote to NAME; "local" is the socket again.`,
		Example: `  zonectl remote switch host2
  zonectl remote switch local`, Args: needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadRemotes()
			if err != nil {
				return err
			}
			switch {
			case args[0] == localRemote:
				cfg.Default = ""
			case cfg.Remotes[args[0]] == nil:
				return fmt.Errorf("no remote %q", args[0])
			default:
				cfg.Default = args[0]
			}
			return cfg.save()
		},
	}
}

package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/internal/units"
)

func newTrustCmd(a *app) *cobra.Command {
	return groupCmd("trust", "Manage the clients the daemon's HTTPS API trusts",
		`Manage who may use the daemon's HTTPS API (zoned -https-address): each client
is a certificate, enrolled with a one-time token (trust add, then "zonectl
remote add" on the client's machine) or added from a PEM file. Removing a
client cuts its open connections at once.`,
		`  zonectl trust add panel1 --label customer=c1042 --expires 30m
  zonectl trust add-cert ci ci.crt
  zonectl trust list
  zonectl trust remove panel1`,
		nil,
		newTrustAddCmd(a), newTrustAddCertCmd(a), newTrustListCmd(a), newTrustShowCmd(a), newTrustRemoveCmd(a),
		newTrustTokensCmd(a), newTrustRevokeCmd(a))
}

func newTrustAddCmd(a *app) *cobra.Command {
	var readOnly bool
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Make a one-time token that enrols a client",
		Long: `Make a one-time token that enrols a client as NAME. It is printed once and is
a password until used: hand it over privately. It carries the daemon's
certificate fingerprint, which the client pins.`,
		Example: `  zonectl trust add panel1 --expires 30m`,
		Args:    needArgs("NAME"),
	}
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "the client may only read")
	cmd.Flags().DurationVar(&expires, "expires", time.Hour, "how long the token enrols (at most a week)")
	labels := addLabelFlag(cmd, "confine the client to zones with this label, KEY=VALUE (repeat for all of several); its new zones get them")
	var maxMem, maxDisk string
	var maxCPU int64
	cmd.Flags().StringVar(&maxMem, "max-memory", "", "cap on the sum of the client's zones' memory limits, like 8G (needs --label)")
	cmd.Flags().Int64Var(&maxCPU, "max-cpu", 0, "cap on the sum of the client's zones' CPU limits, in percent of a CPU (needs --label)")
	cmd.Flags().StringVar(&maxDisk, "max-disk", "", "cap on the sum of the client's zones' disk quotas, like 200G (needs --label)")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		if expires < time.Second {
			return usagef("--expires %s: at least a second", expires)
		}
		scope, _, err := parseLabels(*labels, false)
		if err != nil {
			return err
		}
		sc := api.ClientScope{ReadOnly: readOnly, Labels: scope, MaxCPUPercent: maxCPU}
		for _, f := range []struct {
			flag, value string
			to          *int64
		}{{"--max-memory", maxMem, &sc.MaxMemoryBytes}, {"--max-disk", maxDisk, &sc.MaxDiskBytes}} {
			if f.value == "" {
				continue
			}
			n, err := units.ParseBytes(f.value)
			if err != nil {
				return usagef("%s %q: %v", f.flag, f.value, err)
			}
			*f.to = n
		}
		tok, err := a.client().CreateTrustToken(cmd.Context(), api.CreateTokenRequest{Name: args[0], Scope: sc, ExpiresSeconds: int64(expires / time.Second)})
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, tok, func(w io.Writer) error {
			fmt.Fprintln(w, tok.Token)
			fmt.Fprintf(a.stderr, "one-time token for client %s, valid until %s; on the client: zonectl remote add NAME https://THIS-HOST:PORT --token TOKEN\n", tok.Name, formatTime(tok.ExpiresAt))
			return nil
		})
	}
	return cmd
}

func newTrustAddCertCmd(a *app) *cobra.Command {
	var readOnly bool
	cmd := &cobra.Command{
		Use:     "add-cert NAME FILE",
		Short:   "Trust a client certificate from a PEM file",
		Long:    `Trust the client certificate in FILE (PEM) as NAME, for automation that makes its own key pairs.`,
		Example: `  zonectl trust add-cert ci /etc/ci/zoned-client.crt`,
		Args:    needArgs("NAME", "FILE"),
	}
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "the client may only read")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		pem, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		c, err := a.client().AddTrustedClient(cmd.Context(), api.AddClientRequest{Name: args[0], Certificate: string(pem), Scope: api.ClientScope{ReadOnly: readOnly}})
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, c, func(w io.Writer) error { return writeTrustedClient(w, c) })
	}
	return cmd
}

func newTrustListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List trusted clients", Long: `List the clients the HTTPS API trusts, with their scope and open connections.`, Example: `  zonectl trust list`, Args: needArgs()}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		cs, err := a.client().ListTrustedClients(cmd.Context())
		if err != nil {
			return err
		}
		if cs == nil {
			cs = []api.TrustedClient{}
		}
		return writeData(a.stdout, *out, cs, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSCOPE\tCONNECTIONS\tEXPIRES\tFINGERPRINT")
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", c.Name, scopeText(c.Scope), c.Connections, formatTime(c.ExpiresAt), c.Fingerprint)
			}
			return tw.Flush()
		})
	}
	return cmd
}

func newTrustShowCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "show NAME", Short: "Show a trusted client", Long: `Show a trusted client.`, Example: `  zonectl trust show panel1`, Args: needArgs("NAME")}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		c, err := a.client().GetTrustedClient(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, c, func(w io.Writer) error { return writeTrustedClient(w, c) })
	}
	return cmd
}

func newTrustRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use: "remove NAME", Aliases: []string{"rm"}, Short: "Stop trusting a client",
		Long:    `Stop trusting a client; its open connections and streams are cut at once.`,
		Example: `  zonectl trust remove panel1`, Args: needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client().RemoveTrustedClient(cmd.Context(), args[0])
		},
	}
}

func newTrustTokensCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "List pending tokens", Long: `List the tokens not used yet (their secrets are not kept).`, Example: `  zonectl trust tokens`, Args: needArgs()}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		ts, err := a.client().ListTrustTokens(cmd.Context())
		if err != nil {
			return err
		}
		if ts == nil {
			ts = []api.TrustToken{}
		}
		return writeData(a.stdout, *out, ts, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSCOPE\tEXPIRES")
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, scopeText(t.Scope), formatTime(t.ExpiresAt))
			}
			return tw.Flush()
		})
	}
	return cmd
}

func newTrustRevokeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use: "revoke-token NAME", Short: "Revoke a pending token",
		Long: `Revoke the pending token of client NAME before it is used.`, Example: `  zonectl trust revoke-token panel1`, Args: needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client().RevokeTrustToken(cmd.Context(), args[0])
		},
	}
}

func scopeText(s api.ClientScope) string {
	var parts []string
	if s.ReadOnly {
		parts = append(parts, "read-only")
	}
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+s.Labels[k])
	}
	if s.MaxMemoryBytes > 0 {
		parts = append(parts, "memory<="+units.FormatBytes(s.MaxMemoryBytes))
	}
	if s.MaxCPUPercent > 0 {
		parts = append(parts, fmt.Sprintf("cpu<=%d%%", s.MaxCPUPercent))
	}
	if s.MaxDiskBytes > 0 {
		parts = append(parts, "disk<="+units.FormatBytes(s.MaxDiskBytes))
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, ",")
}

func writeTrustedClient(w io.Writer, c *api.TrustedClient) error {
	k := newKV(w)
	k.add("Name", c.Name)
	k.add("Fingerprint", c.Fingerprint)
	k.add("Scope", scopeText(c.Scope))
	k.add("Added", formatTime(c.AddedAt))
	k.add("Expires", formatTime(c.ExpiresAt))
	k.add("Connections", fmt.Sprint(c.Connections))
	return k.flush()
}

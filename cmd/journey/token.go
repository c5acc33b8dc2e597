package main

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/journey-cdp/journey/auth"
	"github.com/spf13/cobra"
)

// TokenEnv is the environment variable a client command takes its bearer
// token from when --token is not given.
const TokenEnv = "JOURNEY_TOKEN"

// tokenLine is journey token create --json: the token's text (shown only
// this once) and what the file keeps of it.
type tokenLine struct {
	Token string `json:"token,omitempty"`
	auth.TokenInfo
}

// tokenFile is the token file: --auth FILE, else <data>/auth/tokens.json.
func (a *app) tokenFile(flag string) string {
	return cmp.Or(flag, filepath.Join(a.dataDir(), filepath.FromSlash(auth.DefaultFile)))
}

// openTokens opens the token file (tokenFile of flag), refusing a
// directory given as --auth by name.
func (a *app) openTokens(flag string) (*auth.Tokens, error) {
	path := a.tokenFile(flag)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		if flag == "" {
			return nil, fmt.Errorf("the token file %s is a directory", path)
		}
		return nil, usageErrorf("--auth %s is a directory: --auth names the token file (journey token create --auth FILE makes it)", path)
	}
	return auth.OpenTokens(path)
}

// bearerToken is the token a client command sends: --token, else $JOURNEY_TOKEN.
func (a *app) bearerToken() string { return cmp.Or(a.token, a.getenv(TokenEnv)) }

// addTokenFlags gives --token to every command that asks a running serve
// (those with --server, and journey publish).
func (a *app) addTokenFlags(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Flags().Lookup("server") != nil || c.Name() == "publish" {
			c.Flags().StringVar(&a.token, "token", "", "bearer token of the serve's access control (default $"+TokenEnv+")")
		}
	}
	walk(root)
}

func (a *app) tokenCommand() *cobra.Command {
	cmd := groupCommand("token", "Create, list and revoke the bearer tokens of access control")
	cmd.Long = `A token has one role: writer (append touchpoints; optionally only with a
source prefix), reader (one customer's answer and history), analyst
(segments, NPS, customer exports), auditor (history, verify, event export,
quarantine list, checkpoints; a reader's reads too) or admin (everything).

The token file is --auth FILE, else DATA/auth/tokens.json; it holds only
SHA-256 hashes of the tokens (mode 0600). journey serve uses it when it
exists and notices a token created or revoked while it runs within a second.`
	var file string
	cmd.PersistentFlags().StringVar(&file, "auth", "", "token file (default DATA/auth/tokens.json)")

	var (
		role, name, expires, prefix string
	)
	create := &cobra.Command{
		Use:   "create --role ROLE --name NAME [--expires 90d] [--source-prefix P]",
		Short: "Create a token and print it (once: only its hash is stored)",
		Example: `  journey token create --role reader --name tablet-store-042 --expires 90d
  journey token create --role writer --name till-17 --source-prefix pos/store-017`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if role == "" || name == "" {
				return usageErrorf("token create needs --role and --name")
			}
			r, err := auth.ParseRole(role)
			if err != nil {
				return usageErrorf("--role: %v", err)
			}
			d, err := auth.ParseExpiry(expires)
			if err != nil {
				return usageErrorf("--%v", err)
			}
			if err := auth.ValidName(name); err != nil {
				return usageErrorf("--name: %v", err)
			}
			if prefix != "" && r != auth.Writer {
				return usageErrorf("--source-prefix is for writer tokens only (role %s appends nothing)", r)
			}
			t, err := a.openTokens(file)
			if err != nil {
				return err
			}
			t.SetClock(a.now)
			text, info, err := t.Create(name, r, d, prefix)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(tokenLine{Token: text, TokenInfo: info})
			}
			a.printf("%s\n", text)
			fmt.Fprintf(a.stderr, "token %q (%s%s) created in %s: the line above is shown only this once\n",
				info.Name, info.Role, expiryText(info), t.Path())
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "writer, reader, analyst, auditor or admin")
	create.Flags().StringVar(&name, "name", "", "the token's name (letters, digits, . _ - : @), shown in logs and the access log")
	create.Flags().StringVar(&expires, "expires", "", "lifetime: days (90d) or a duration (36h); default none")
	create.Flags().StringVar(&prefix, "source-prefix", "", "writer only: accept only events whose source starts with this")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the tokens: name, role, created, expires, revoked (never the token)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := a.openTokens(file)
			if err != nil {
				return err
			}
			infos := t.List()
			if a.jsonOut {
				for _, ti := range infos {
					if err := a.printJSON(tokenLine{TokenInfo: ti}); err != nil {
						return err
					}
				}
				return nil
			}
			if len(infos) == 0 {
				a.printf("no tokens in %s (journey token create makes one)\n", t.Path())
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tEXPIRES\tREVOKED\tSOURCE PREFIX")
			for _, ti := range infos {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ti.Name, ti.Role, ti.Created.Format(time.RFC3339),
					timeOrDash(ti.Expires), timeOrDash(ti.Revoked), cmp.Or(ti.SourcePrefix, "-"))
			}
			return tw.Flush()
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token: a running serve refuses it within a second",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := a.openTokens(file)
			if err != nil {
				return err
			}
			t.SetClock(a.now)
			already := slices.ContainsFunc(t.List(), func(ti auth.TokenInfo) bool { return ti.Name == args[0] && ti.Revoked != nil })
			info, err := t.Revoke(args[0])
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(tokenLine{TokenInfo: info})
			}
			if already {
				a.printf("token %q was already revoked at %s\n", info.Name, info.Revoked.Format(time.RFC3339))
				return nil
			}
			a.printf("token %q revoked\n", info.Name)
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func expiryText(ti auth.TokenInfo) string {
	if ti.Expires == nil {
		return ", no expiry"
	}
	return ", expires " + ti.Expires.Format(time.RFC3339)
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

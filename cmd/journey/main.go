// Command journey is the journey engine's one binary: it serves (embedded
// NATS, ingestion, projections, HTTP API), publishes and imports
// touchpoints, simulates realistic journeys, replays and verifies the log,
// and answers questions about customers and segments.
//
// Every subcommand takes --json for machine-readable output. The exit
// status is 0 on success, 1 on failure (e.g. a log that does not verify),
// 2 on a usage error (unknown command or flag, bad argument).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/internal/errtext"
	"github.com/spf13/cobra"
)

func main() { os.Exit(journeyMain()) }

// journeyMain is the journey process: it runs the command line in os.Args
// with the process's streams and signals and returns the exit status
// (TestMain runs it as the README scripts' journey command).
func journeyMain() int {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	var interrupted atomic.Bool
	go func() {
		<-sig
		interrupted.Store(true)
		fmt.Fprintln(os.Stderr, "journey: stopping (interrupt again to abort)")
		cancel()
		// A signal always stops the process: if the command is stuck (in a
		// storage call that does not return, say), exit after stopGrace.
		// Every acknowledged event is already fsynced.
		select {
		case <-sig:
			fmt.Fprintln(os.Stderr, "journey: aborted")
		case <-time.After(stopGrace):
			fmt.Fprintf(os.Stderr, "journey: did not stop within %s; exiting (every acknowledged event is fsynced)\n", stopGrace)
		}
		os.Exit(130)
	}()
	err := run(ctx, os.Args[1:])
	cancel()
	if err != nil {
		msg := userMessage(err)
		if interrupted.Load() && errors.Is(err, context.Canceled) {
			// Not Go's "context canceled": the command was cut short.
			msg = interruptedMessage
		}
		fmt.Fprintf(os.Stderr, "journey: %s\n", msg)
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "Run 'journey --help' for usage.")
		}
	}
	return exitCode(err)
}

// userMessage is err as journey prints it: in the words of its user,
// without the Go package prefixes of its parts ("eventstore: ") and the
// marker line cockroachdb/errors appends to Pebble's corruption errors.
func userMessage(err error) string {
	return errtext.WithoutPackages(strings.ReplaceAll(err.Error(), "\n<corruption detail carrier>", ""))
}

// interruptedMessage is the last line of a command a signal cut short.
const interruptedMessage = "interrupted: the command stopped before it completed"

// stopGrace is how long a command may take to stop after a signal.
const stopGrace = 15 * time.Second

// run runs the journey command line args with the process's standard streams.
func run(ctx context.Context, args []string) error {
	return newApp(os.Stdin, os.Stdout, os.Stderr).execute(ctx, args)
}

// exitCode maps run's error to the process exit status.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	default:
		return 1
	}
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// app is one invocation: its streams, environment, clock and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time

	jsonOut  bool
	dataFlag string
	// masterKeyFile is --master-key-file (keys.go).
	masterKeyFile string
	token         string    // --token of the client commands (token.go)
	clientTLS     clientTLS // --ca, --client-cert, --client-key of the --server commands (httpclient.go)
	rawCSV        bool      // --raw-csv of the CSV exports (export.go: spreadsheetSafe)
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, now: time.Now}
}

// dataDir is the data directory: --data, $JOURNEY_DATA or ./data.
func (a *app) dataDir() string { return cli.DataDir(a.dataFlag, a.getenv) }

// printJSON writes one JSON object per line to stdout.
func (a *app) printJSON(v any) error { return cli.WriteJSON(a.stdout, v) }

// printf writes human-readable output to stdout.
// parseProblem is the tail of a flag value's parse error as pflag gives it
// (`strconv.ParseInt: parsing "x": invalid syntax`, `time: invalid
// duration "x"`).
var parseProblem = regexp.MustCompile(`(strconv\.Parse(Int|Uint|Float|Bool): parsing "[^"]*": (invalid syntax|value out of range))|time: (invalid|unknown unit "[^"]*" in) duration "[^"]*"$`)

// flagProblem is a flag's parse error without Go's function names: "not a
// whole number", "out of range", "not a duration such as 90s or 2h".
func flagProblem(err error) error {
	msg := err.Error()
	m := parseProblem.FindStringSubmatchIndex(msg)
	if m == nil {
		return err
	}
	what := "not a duration such as 90s, 15m or 2h"
	sub := msg[m[0]:m[1]]
	switch {
	case strings.HasSuffix(sub, "value out of range"):
		what = "out of range"
	case strings.Contains(sub, "ParseInt"), strings.Contains(sub, "ParseUint"):
		what = "not a whole number"
	case strings.Contains(sub, "ParseFloat"):
		what = "not a number"
	case strings.Contains(sub, "ParseBool"):
		what = "not true or false"
	}
	return errors.New(strings.TrimSuffix(msg[:m[0]]+what, " "))
}

// printf prints a line of text output. Its string arguments may hold what
// came from a touchpoint (a source, a quarantined input, a reason echoing
// it), so their control characters are escaped first (cli.TerminalSafe).
func (a *app) printf(format string, args ...any) {
	for i, v := range args {
		switch s := v.(type) {
		case string:
			args[i] = cli.TerminalSafe(s)
		case []byte:
			args[i] = cli.TerminalSafe(string(s))
		case journey.Kind:
			args[i] = cli.TerminalSafe(string(s))
		}
	}
	fmt.Fprintf(a.stdout, format, args...)
}

func (a *app) execute(ctx context.Context, args []string) error {
	root := a.rootCommand()
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	var inUse *cli.InUseError
	if errors.As(err, &inUse) && inUse.Hint == "" {
		inUse.Hint = inUseHint(cmd, inUse)
	}
	var ro *cli.ReadOnlyError
	if errors.As(err, &ro) && ro.Command == "" && cmd != nil {
		ro.Command = strings.TrimPrefix(cmd.CommandPath(), root.Name()+" ")
	}
	return err
}

// inUseHint is what cmd can do instead of opening a data dir another
// process holds: ask the running serve (--server), publish to it, or stop it.
func inUseHint(cmd *cobra.Command, e *cli.InUseError) string {
	srv := e.Server
	switch {
	case cmd == nil:
		return ""
	case cmd.Name() == "serve":
		return "stop it or pass another --data"
	case srv != nil && srv.HTTP != "" && cmd.Flags().Lookup("server") != nil:
		return "pass --server " + srv.HTTP
	case srv != nil && srv.NATS != "" && cmd.Name() == "import":
		return "stop it first, or publish to it: journey publish --nats-url " + srv.NATS + " FILE"
	}
	return ""
}

// version is the binary's module version (runtime/debug.ReadBuildInfo),
// with its VCS revision when built from a work tree, or "devel".
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	if v == "devel" && rev != "" {
		v += " (" + rev[:min(12, len(rev))] + dirty + ")"
	}
	return v
}

// noDataDir are the commands that use no data directory: they do not take --data.
var noDataDir = map[string]bool{"publish": true, "simulate": true, "bench": true}

// addDataFlags gives --data to the commands that read or write a data
// directory (to every subcommand of a group), and to no other.
func (a *app) addDataFlags(root *cobra.Command) {
	for _, c := range root.Commands() {
		if noDataDir[c.Name()] {
			continue
		}
		f := c.Flags()
		if c.HasSubCommands() {
			f = c.PersistentFlags()
		}
		f.StringVar(&a.dataFlag, "data", "", "data directory (default $"+cli.DataEnv+" or ./data)")
		a.addKeyFlag(f)
	}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "journey",
		Short: "An event-sourced customer-journey engine",
		Long: `journey keeps every customer touchpoint (visit, purchase, return, complaint,
feedback, thank-you, referral, profile) in a tamper-evident, append-only log
and folds it into customer state: lifecycle stage, satisfaction, churn, segments.

The data directory is --data, else $JOURNEY_DATA, else ./data.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE:          groupRunE,
		Version:       version(),
	}
	root.SetVersionTemplate("journey {{.Version}}\n")
	root.PersistentFlags().BoolVar(&a.jsonOut, "json", false, "machine-readable JSON output")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{flagProblem(err)} })
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		a.simulateCommand(),
		a.importCommand(),
		a.historyCommand(),
		a.verifyCommand(),
		a.checkpointCommand(),
		a.forgetCommand(),
		a.quarantineCommand(),
		a.npsCommand(),
		a.customerCommand(),
		a.segmentsCommand(),
		a.churnCommand(),
		a.clvCommand(),
		a.rebuildCommand(),
		a.benchCommand(),
		a.serveCommand(),
		a.publishCommand(),
		a.exportCommand(),
		a.cohortsCommand(),
		a.clustersCommand(),
		a.tokenCommand(),
		a.actionsCommand(), // actions.go
	)
	a.addDataFlags(root)
	a.addTokenFlags(root)
	a.addClientTLSFlags(root) // --ca, --client-cert, --client-key: httpclient.go
	return root
}

// groupCommand is a command that only groups subcommands (see groupRunE).
func groupCommand(use, short string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: cobra.ArbitraryArgs, RunE: groupRunE}
}

// groupRunE is the RunE of a command that only groups subcommands: without
// arguments it shows help; anything else is an unknown command.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
}

// exactArgs is cobra.ExactArgs whose error is a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %d argument(s), got %d (see %s --help)", cmd.CommandPath(), n, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// addPreRun makes cmd run check before it starts, after the PreRunE it
// already has (each flag group of serve adds its own check).
func addPreRun(cmd *cobra.Command, check func(cmd *cobra.Command) error) {
	prev := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if prev != nil {
			if err := prev(cmd, args); err != nil {
				return err
			}
		}
		return check(cmd)
	}
}

// noArgs is cobra.NoArgs whose error is a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}

// optionalAsOf is asOf for the read commands, where no --as-of means "now,
// from the stored views": the zero time.
func (a *app) optionalAsOf(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return a.asOf(s)
}

// asOf parses an --as-of value; empty means the clock.
func (a *app) asOf(s string) (time.Time, error) {
	if s == "" {
		return a.now().UTC(), nil
	}
	t, err := cli.ParseAsOf(s)
	if err != nil {
		return time.Time{}, &usageError{err}
	}
	return t, nil
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/semaphore"

	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/apply"
	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/plan/deploy"
	"github.com/hactl/hactl/remote"
)

// remoteFlags are the flags of every command that talks to the hosts.
type remoteFlags struct {
	configFlags
	parallelism    int
	uploads        int64
	knownHosts     string
	sshConfig      string
	identity       string
	acceptNewKeys  bool
	agentBinary    string
	lockTimeout    time.Duration
	connectTimeout time.Duration
	healthWait     time.Duration
}

func (f *remoteFlags) register(cmd *cobra.Command) {
	f.configFlags.register(cmd)
	fl := cmd.Flags()
	fl.IntVar(&f.parallelism, "parallelism", remote.DefaultParallelism, "hosts worked on at once")
	fl.Int64Var(&f.uploads, "upload-parallelism", 4, "uploads (agent binaries, specs) under way at once, across hosts")
	fl.StringVar(&f.knownHosts, "known-hosts", os.Getenv("HACTL_KNOWN_HOSTS"), "known_hosts file for every node (default: the configuration's, or ~/.ssh/known_hosts; env HACTL_KNOWN_HOSTS)")
	fl.StringVar(&f.sshConfig, "ssh-config", os.Getenv("HACTL_SSH_CONFIG"), "OpenSSH client configuration to read instead of ~/.ssh/config and /etc/ssh/ssh_config, or none (like ssh -F; env HACTL_SSH_CONFIG); the configuration's own ssh settings come first")
	fl.StringVar(&f.identity, "identity", os.Getenv("HACTL_SSH_IDENTITY"), "SSH private key for every node (env HACTL_SSH_IDENTITY)")
	fl.BoolVar(&f.acceptNewKeys, "accept-new-host-keys", false, "trust and record the host keys of hosts not yet in known_hosts (like ssh's accept-new); changed keys are still refused")
	fl.StringVar(&f.agentBinary, "agent-binary", os.Getenv(apply.AgentFileEnv), "agent binary to install on every node (env "+apply.AgentFileEnv+"; default: the agents built into a release hactl, or hactl-agent-linux-ARCH beside the hactl executable)")
	fl.DurationVar(&f.lockTimeout, "lock-timeout", 0, "how long to wait for another run's lock on a host before giving up")
	fl.DurationVar(&f.connectTimeout, "connect-timeout", 0, "SSH connect timeout (default: the configuration's, or 10s)")
	fl.DurationVar(&f.healthWait, "health-timeout", 30*time.Second, "how long to wait for each agent to report its new spec healthy")
}

// session loads the configuration and opens a deploy session. The caller
// closes it.
func (f *remoteFlags) session(stderr io.Writer, progress func(node, msg string)) (*config.Result, *deploy.Session, error) {
	res, _, err := f.load(stderr)
	if err != nil {
		return nil, nil, err
	}
	warn := func(msg string) { fmt.Fprintln(stderr, "Warning:", msg) }
	sshConfig, err := f.loadSSHConfig(warn)
	if err != nil {
		return nil, nil, err
	}
	s := deploy.New(res, deploy.Options{
		Remote: remote.Options{
			Uploads:           semaphore.NewWeighted(max(f.uploads, 1)),
			KnownHostsFile:    f.knownHosts,
			AcceptNewHostKeys: f.acceptNewKeys,
			ConnectTimeout:    f.connectTimeout,
			SSHConfig:         sshConfig,
			Warn:              warn,
		},
		Parallelism:  f.parallelism,
		IdentityFile: f.identity,
		Agents:       f.agentSource(),
		LockTimeout:  f.lockTimeout,
		HealthWait:   f.healthWait,
		Progress:     progress,
	})
	return res, s, nil
}

// loadSSHConfig reads the operator's ssh_config as ssh would (-F FILE, -F
// none, or the user's and the system's files). A file given by name must
// exist; one that cannot be parsed is warned about and left out: hactl
// then reaches hosts as without it.
func (f *remoteFlags) loadSSHConfig(warn func(string)) (*remote.SSHConfig, error) {
	files := remote.DefaultSSHConfigFiles()
	switch f.sshConfig {
	case "none":
		files = nil
	case "":
	default:
		if _, err := os.Stat(f.sshConfig); err != nil {
			return nil, fmt.Errorf("--ssh-config: %w (give none to read no ssh_config)", err)
		}
		files = []string{f.sshConfig}
	}
	cfg, err := remote.LoadSSHConfig(files...)
	if err != nil {
		warn(err.Error())
	}
	return cfg, nil
}

// withSession loads the configuration, opens a session to its nodes and
// runs fn with a context that ends on Ctrl-C or SIGTERM (so that steps stop
// cleanly and locks are released); the session is closed afterwards. fn
// also gets the loaded configuration, whose files diagnostics quote.
func (f *remoteFlags) withSession(stderr io.Writer, progress func(node, msg string), fn func(context.Context, *deploy.Session, *config.Result) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, s, err := f.session(stderr, progress)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, s, res)
}

func styles(w io.Writer) plan.Styles {
	if useColor(w) {
		return plan.ColorStyles()
	}
	return plan.Styles{}
}

type planFlags struct {
	remoteFlags
	json             bool
	out              string
	detailedExitcode bool
	// applyArgs are the flags given to plan that apply needs too, for the
	// hint printed after saving a plan.
	applyArgs []string
	// args is the command as given, for the hint to run it in a lab.
	args []string
}

func init() {
	subcommands = append(subcommands, newPlanCommand, newApplyCommand, newDriftCommand, newDestroyCommand, newStatusCommand, newForceUnlockCommand)
}

func newPlanCommand() *cobra.Command {
	var flags planFlags
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change on the hosts",
		Long: `plan observes every host over SSH (agent installed? which version, which spec,
running? kernel IPVS / nftables, systemd, rsync, snmpd, addresses), compiles
the configuration into one spec per node, and prints per host what apply
would do. It changes nothing.

Exit status: 0 success; 1 error. With --detailed-exitcode: 0 no changes,
1 error, 2 changes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags.applyArgs = givenFlags(cmd.Flags(), "out", "json", "detailed-exitcode")
			flags.args = slices.Concat([]string{"hactl", "plan"}, givenFlags(cmd.Flags()))
			return runPlan(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags)
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&flags.json, "json", false, "print the plan as JSON (format_version 1)")
	cmd.Flags().StringVar(&flags.out, "out", "", "save the plan to FILE for a later hactl apply FILE")
	cmd.Flags().BoolVar(&flags.detailedExitcode, "detailed-exitcode", false, "exit 2 when there are changes")
	return cmd
}

// computePlan loads, observes and plans.
func computePlan(ctx context.Context, stderr io.Writer, s *deploy.Session, cfg *config.Result) (*plan.Plan, []*plan.Desired, map[string]*plan.Observed, error) {
	observed := s.Observe(ctx)
	desired, diags, err := s.Desired(observed)
	if len(diags) > 0 {
		if werr := config.WriteDiagnostics(stderr, cfg.Files, diags, termWidth(stderr), useColor(stderr)); werr != nil {
			return nil, nil, nil, werr
		}
	}
	if err != nil {
		return nil, nil, nil, withExitCode(exitError, err)
	}
	if diags.HasErrors() {
		return nil, nil, nil, withExitCode(exitError, nil)
	}
	return plan.Compute(desired, observed), desired, observed, nil
}

func runPlan(stdout, stderr io.Writer, flags planFlags) error {
	return flags.withSession(stderr, nil, func(ctx context.Context, s *deploy.Session, cfg *config.Result) error {
		return planWith(ctx, stdout, stderr, s, cfg, flags)
	})
}

func planWith(ctx context.Context, stdout, stderr io.Writer, s *deploy.Session, cfg *config.Result, flags planFlags) error {
	p, desired, _, err := computePlan(ctx, stderr, s, cfg)
	if err != nil {
		return err
	}
	saved := p.Save(desired)
	if flags.out != "" {
		f, err := os.OpenFile(flags.out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return withExitCode(exitError, fmt.Errorf("saving the plan: %w", err))
		}
		werr := plan.WriteJSON(f, saved)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return withExitCode(exitError, fmt.Errorf("saving the plan: %w", werr))
		}
	}
	if flags.json {
		if err := plan.WriteJSON(stdout, saved); err != nil {
			return err
		}
	} else {
		p.WriteText(stdout, styles(stdout))
		if flags.out != "" {
			fmt.Fprintf(stdout, "Saved the plan to %s; apply it with:\n  %s\n", flags.out, shellCommand(slices.Concat([]string{"hactl", "apply"}, flags.applyArgs, []string{flags.out})...))
		}
	}
	switch {
	case p.HasErrors():
		writeLabHint(stderr, cfg.Topology, p, flags.args, upLabs)
		return withExitCode(exitError, nil)
	case len(p.Refusals()) > 0:
		return withExitCode(exitError, nil)
	case flags.detailedExitcode && p.HasChanges():
		return withExitCode(exitChanges, nil)
	}
	return nil
}

// givenFlags lists the flags the user gave on the command line, as
// arguments to repeat (-f value, --name value, --bool), but for those named
// in skip. Repeated flags (--var) come once per value, in the order given.
func givenFlags(fs *pflag.FlagSet, skip ...string) []string {
	var out []string
	fs.Visit(func(f *pflag.Flag) {
		if slices.Contains(skip, f.Name) {
			return
		}
		values := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			values = sv.GetSlice()
		}
		for _, v := range values {
			switch {
			case f.Value.Type() == "bool" && v == "true":
				out = append(out, "--"+f.Name)
			case f.Value.Type() == "bool":
				// "--name false" would read false as an argument.
				out = append(out, "--"+f.Name+"="+v)
			case f.Shorthand != "":
				out = append(out, "-"+f.Shorthand, v)
			default:
				out = append(out, "--"+f.Name, v)
			}
		}
	})
	return out
}

// shellCommand writes a command line that a POSIX shell reads back as the
// same words: words with nothing special to the shell stay as they are,
// others are single-quoted.
func shellCommand(words ...string) string {
	parts := make([]string, len(words))
	for i, w := range words {
		parts[i] = shellWord(w)
	}
	return strings.Join(parts, " ")
}

var plainWord = regexp.MustCompile(`^[A-Za-z0-9_./:@%+,=-]+$`)

func shellWord(s string) string {
	if plainWord.MatchString(s) {
		return s
	}
	return remote.Quote(s)
}

type applyFlags struct {
	remoteFlags
	autoApprove bool
}

func newApplyCommand() *cobra.Command {
	var flags applyFlags
	cmd := &cobra.Command{
		Use:   "apply [PLANFILE]",
		Short: "Make the hosts match the configuration",
		Long: `apply plans (or takes a plan saved with plan --out, refused if any host or the
configuration changed since), asks for confirmation, and applies: in parallel
across independent hosts, one node at a time within a failover group (standbys
first, the preferred node last), each host locked while it changes, each agent
waited for until it reports the new spec healthy. It stops at the first
failure within a group and says what was and was not applied. Every step is
idempotent: an interrupted apply converges when run again.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			planFile := ""
			if len(args) == 1 {
				planFile = args[0]
			}
			return runApply(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), flags, planFile, "apply")
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&flags.autoApprove, "auto-approve", false, "apply without asking")
	return cmd
}

func runApply(stdin io.Reader, stdout, stderr io.Writer, flags applyFlags, planFile, operation string) error {
	progress := func(node, msg string) {
		fmt.Fprintf(stdout, "%s: %s\n", node, msg)
	}
	return flags.withSession(stderr, progress, func(ctx context.Context, s *deploy.Session, cfg *config.Result) error {
		return applyWith(ctx, stdin, stdout, stderr, s, cfg, flags, planFile, operation)
	})
}

func applyWith(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, s *deploy.Session, cfg *config.Result, flags applyFlags, planFile, operation string) error {
	var p *plan.Plan
	var err error
	var desired []*plan.Desired
	if operation == "destroy" {
		p = plan.DestroyPlan(s.Observe(ctx))
	} else {
		var observed map[string]*plan.Observed
		p, desired, observed, err = computePlan(ctx, stderr, s, cfg)
		if err != nil {
			return err
		}
		if planFile != "" {
			saved, err := readSavedPlan(planFile)
			if err != nil {
				return withExitCode(exitError, err)
			}
			if why := saved.Stale(desired, observed); why != "" {
				return withExitCode(exitError, fmt.Errorf("the saved plan %s is stale: %s; run hactl plan again", planFile, why))
			}
		}
	}
	destroy := operation == "destroy"
	if destroy {
		p.WriteDestroyText(stdout, styles(stdout))
	} else {
		p.WriteText(stdout, styles(stdout))
	}
	if p.HasErrors() {
		return withExitCode(exitError, fmt.Errorf("some hosts could not be observed; nothing was %s", map[bool]string{true: "removed", false: "applied"}[destroy]))
	}
	if r := p.Refusals(); len(r) > 0 && !destroy {
		return withExitCode(exitError, fmt.Errorf("the hosts cannot run the configuration (%s); nothing was applied", strings.Join(r, "; ")))
	}
	if !p.HasChanges() {
		return nil
	}
	if !flags.autoApprove && planFile == "" {
		question := "Apply these changes?"
		if destroy {
			question = fmt.Sprintf("Remove hactl from %s? Its agent stops there, and the cluster's work on those hosts with it.", strings.Join(p.Changed(), ", "))
		}
		fmt.Fprintf(stdout, "\n%s Only 'yes' will be accepted: ", question)
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(answer) != "yes" {
			return withExitCode(exitError, fmt.Errorf("%s cancelled; nothing was changed", operation))
		}
	}
	fmt.Fprintln(stdout)
	results := s.Apply(ctx, p, desired, operation)
	failed := 0
	for _, r := range results {
		switch {
		case r.Err != nil:
			failed++
			fmt.Fprintf(stderr, "%s: FAILED: %s\n", r.Node, plan.WithoutHost(r.Node, r.Err.Error()))
		case r.Skipped != "":
			failed++
			fmt.Fprintf(stderr, "%s: %s\n", r.Node, plan.WithoutHost(r.Node, r.Skipped))
		}
	}
	if failed > 0 {
		return withExitCode(exitError, fmt.Errorf("%d of %d hosts were not brought to the plan; run hactl %s again once the cause is fixed", failed, len(results), operation))
	}
	if destroy {
		names := make([]string, len(results))
		for i, r := range results {
			names[i] = r.Node
		}
		fmt.Fprintf(stdout, "\nDestroy complete: hactl removed from %s (%s).\n", count(len(results), "host"), strings.Join(names, ", "))
	} else {
		fmt.Fprintf(stdout, "\nApply complete: %s changed.\n", count(len(results), "host"))
	}
	return nil
}

func readSavedPlan(path string) (*plan.SavedPlan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the saved plan: %w", err)
	}
	var sp plan.SavedPlan
	if err := jsonUnmarshalStrict(data, &sp); err != nil {
		return nil, fmt.Errorf("%s is not a saved hactl plan: %w", path, err)
	}
	if sp.FormatVersion != plan.JSONFormatVersion {
		return nil, fmt.Errorf("%s has format_version %q; this hactl reads %q", path, sp.FormatVersion, plan.JSONFormatVersion)
	}
	return &sp, nil
}

func newDestroyCommand() *cobra.Command {
	var flags applyFlags
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Stop and remove the agent and everything hactl put on the hosts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runApply(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), flags, "", "destroy")
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&flags.autoApprove, "auto-approve", false, "destroy without asking")
	return cmd
}

type driftFlags struct {
	remoteFlags
	format string
}

func newDriftCommand() *cobra.Command {
	var flags driftFlags
	cmd := &cobra.Command{
		Use:   "drift",
		Short: "Tell configuration not yet applied from hosts changed by hand",
		Long: `drift is read-only. It compares every host with what hactl last applied there
and with the configuration, and reports (a) configuration not yet applied
("pending") and (b) hosts whose agent, spec, secrets or runtime state were
changed by hand ("drift").

Exit status: 0 no drift (pending changes allowed), 1 error, 2 drift.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDrift(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags)
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVar(&flags.format, "format", "text", "output: text, markdown or json")
	return cmd
}

func runDrift(stdout, stderr io.Writer, flags driftFlags) error {
	if flags.format != "text" && flags.format != "markdown" && flags.format != "json" {
		return withExitCode(exitError, fmt.Errorf("--format %q: use text, markdown or json", flags.format))
	}
	return flags.withSession(stderr, nil, func(ctx context.Context, s *deploy.Session, cfg *config.Result) error {
		return driftWith(ctx, stdout, stderr, s, cfg, flags)
	})
}

func driftWith(ctx context.Context, stdout, stderr io.Writer, s *deploy.Session, cfg *config.Result, flags driftFlags) error {
	observed := s.Observe(ctx)
	desired, diags, err := s.Specs()
	if err != nil || diags.HasErrors() {
		_ = config.WriteDiagnostics(stderr, cfg.Files, diags, termWidth(stderr), useColor(stderr))
		return withExitCode(exitError, err)
	}
	// Drift is about specs; the agent only adds "agent upgrade pending",
	// which is left out, with a note, when this hactl has no agent.
	if err := s.AddAgents(desired, observed); errors.Is(err, apply.ErrNoAgent) {
		fmt.Fprintf(stderr, "Note: pending agent upgrades are not shown: %v\n", err)
	} else if err != nil {
		return withExitCode(exitError, err)
	}
	items := plan.Drift(desired, observed)
	switch flags.format {
	case "json":
		doc := struct {
			FormatVersion string           `json:"format_version"`
			Drift         bool             `json:"drift"`
			Items         []plan.DriftItem `json:"items"`
		}{plan.JSONFormatVersion, plan.HasDrift(items), items}
		if doc.Items == nil {
			doc.Items = []plan.DriftItem{}
		}
		if err := plan.WriteJSON(stdout, doc); err != nil {
			return err
		}
	case "markdown":
		plan.WriteDriftMarkdown(stdout, items)
	default:
		plan.WriteDriftText(stdout, items, styles(stdout))
	}
	for _, it := range items {
		if it.Kind == plan.Unreachable {
			return withExitCode(exitError, nil)
		}
	}
	if plan.HasDrift(items) {
		return withExitCode(exitChanges, nil)
	}
	return nil
}

func newForceUnlockCommand() *cobra.Command {
	var flags remoteFlags
	cmd := &cobra.Command{
		Use:   "force-unlock NODE",
		Short: "Remove a node's apply lock left by a run that died",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return flags.withSession(cmd.ErrOrStderr(), nil, func(ctx context.Context, s *deploy.Session, _ *config.Result) error {
				info, err := s.ForceUnlock(ctx, args[0])
				if err != nil {
					return withExitCode(exitError, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: removed the lock held by %s\n", args[0], info)
				return nil
			})
		},
	}
	flags.register(cmd)
	return cmd
}

package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/remote"
)

// Options are what every host's apply shares.
type Options struct {
	// HealthTimeout bounds the wait for the agent to report the new spec.
	HealthTimeout time.Duration
	// Progress, when set, receives one line per step done.
	Progress func(node, step string)
}

func (o *Options) progress(node, step string) {
	if o.Progress != nil {
		o.Progress(node, step)
	}
}

// Converge applies one host's plan: the steps its actions call for, in order.
// Every step is idempotent, so an apply interrupted anywhere converges when
// run again.
func Converge(ctx context.Context, h Host, hp plan.HostPlan, d *plan.Desired, opts Options) error {
	actions := map[plan.Action]bool{}
	for _, c := range hp.Changes {
		actions[c.Action] = true
	}
	if len(actions) == 0 {
		return nil
	}
	if actions[plan.RemoveAgent] {
		return step(ctx, h, opts, hp.Node, "remove the agent and its files", func() error {
			_, err := h.Run(ctx, removeCmd())
			return err
		})
	}
	newAgent := actions[plan.InstallAgent] || actions[plan.UpgradeAgent]
	if newAgent {
		dir := agentVersionDir(d.AgentSHA256)
		err := step(ctx, h, opts, hp.Node, "upload agent "+short(d.AgentSHA256), func() error {
			if _, err := h.Run(ctx, "mkdir -p "+remote.Quote(dir)); err != nil {
				return err
			}
			if err := h.Upload(ctx, d.AgentBinary, path.Join(dir, layout.AgentName), 0o755); err != nil {
				return err
			}
			_, err := h.Run(ctx, swapLinkCmd(d.AgentSHA256))
			return err
		})
		if err != nil {
			return err
		}
	}
	if actions[plan.UpdateSecret] {
		if err := step(ctx, h, opts, hp.Node, "upload secrets", func() error { return uploadSecrets(ctx, h, d) }); err != nil {
			return err
		}
	}
	if actions[plan.UpdateSpec] {
		if err := step(ctx, h, opts, hp.Node, "upload spec "+short(d.SpecHash), func() error { return uploadSpec(ctx, h, d) }); err != nil {
			return err
		}
	}
	err := step(ctx, h, opts, hp.Node, "record what was applied", func() error {
		rec := plan.Applied{SpecHash: d.SpecHash, AgentSHA256: d.AgentSHA256, Secrets: d.SecretDigests(), SecretDigest: plan.KeyedDigests}
		data, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return err
		}
		if _, err := h.Run(ctx, "mkdir -p "+remote.Quote(layout.StateDir)); err != nil {
			return err
		}
		return h.Upload(ctx, append(data, '\n'), layout.AppliedPath, 0o600)
	})
	if err != nil {
		return err
	}
	switch {
	case actions[plan.InstallAgent] || actions[plan.StartAgent]:
		err = step(ctx, h, opts, hp.Node, "start the agent", func() error { _, err := h.Run(ctx, startCmd(false)); return err })
	case actions[plan.UpgradeAgent]:
		err = step(ctx, h, opts, hp.Node, "restart the agent", func() error { _, err := h.Run(ctx, startCmd(true)); return err })
	default:
		err = step(ctx, h, opts, hp.Node, "reload the agent", func() error { _, err := h.Run(ctx, reloadCmd()); return err })
	}
	if err != nil {
		return err
	}
	return step(ctx, h, opts, hp.Node, "agent healthy on spec "+short(d.SpecHash), func() error { return waitHealthy(ctx, h, d.SpecHash, opts.HealthTimeout) })
}

func step(ctx context.Context, h Host, opts Options, node, title string, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", title, err)
	}
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", title, err)
	}
	opts.progress(node, title)
	return nil
}

func uploadSecrets(ctx context.Context, h Host, d *plan.Desired) error {
	if _, err := h.Run(ctx, fmt.Sprintf("mkdir -p -m 0700 %s %s", remote.Quote(layout.ConfigDir), remote.Quote(layout.SecretsDir))); err != nil {
		return err
	}
	keep := []string{}
	for _, p := range spec.SortedKeys(d.Secrets) {
		// The spec was checked when it was compiled; this is the last
		// line before a root write, for a plan made some other way.
		if !spec.InSecretsDir(p) {
			return fmt.Errorf("secret %q is not a file directly in %s; refusing to write it", p, layout.SecretsDir)
		}
		if err := h.Upload(ctx, d.Secrets[p], p, 0o600); err != nil {
			return err
		}
		keep = append(keep, path.Base(p))
	}
	_, err := h.Run(ctx, pruneSecretsCmd(layout.SecretsDir, keep))
	return err
}

// pruneSecretsCmd removes the files of dir (the secrets folder) that keep
// does not name: secrets no longer named by the spec are not left behind. Each kept name is a quoted case pattern, so
// that the shell only ever compares it, character for character.
func pruneSecretsCmd(dir string, keep []string) string {
	arms := ""
	if len(keep) > 0 {
		quoted := make([]string, len(keep))
		for i, k := range keep {
			quoted[i] = remote.Quote(k)
		}
		arms = strings.Join(quoted, "|") + ") ;; "
	}
	return fmt.Sprintf(`cd %s && for f in *; do [ -f "$f" ] || continue; case "$f" in %s*) rm -f -- "$f" ;; esac; done`, remote.Quote(dir), arms)
}

// uploadSpec puts the spec next to the old one, has the agent binary check
// it, and only then renames it into place.
func uploadSpec(ctx context.Context, h Host, d *plan.Desired) error {
	if _, err := h.Run(ctx, "mkdir -p -m 0700 "+remote.Quote(layout.ConfigDir)); err != nil {
		return err
	}
	next := layout.SpecPath + ".next"
	if err := h.Upload(ctx, d.SpecJSON, next, 0o600); err != nil {
		return err
	}
	_, err := h.Run(ctx, fmt.Sprintf("%s check %s && mv -f %s %s", remote.Quote(layout.AgentBin), remote.Quote(next), remote.Quote(next), remote.Quote(layout.SpecPath)))
	return err
}

// waitHealthy polls the agent's status until it runs the spec healthy.
func waitHealthy(ctx context.Context, h Host, specHash string, timeout time.Duration) error {
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no status yet"
	for {
		out, err := h.Run(ctx, "cat "+remote.Quote(layout.StatusPath)+" 2>/dev/null || true")
		if err == nil && len(out) > 0 {
			var st status.Status
			if json.Unmarshal(out, &st) == nil {
				switch {
				case st.SpecHash == specHash && st.Healthy:
					return nil
				case st.SpecError != "":
					last = st.SpecError
				default:
					last = fmt.Sprintf("agent runs spec %s", short(st.SpecHash))
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the agent did not report spec %s healthy within %s (%s)", short(specHash), timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	if hash == "" {
		return "(none)"
	}
	return hash
}

// Order sorts nodes into waves for a rolling apply: nodes that share a
// failover group go one at a time, standbys first and the preferred node
// last; nodes of different groups, and nodes in no group, are independent.
// groups lists each group's nodes, most preferred first.
func Order(nodes []string, groups [][]string) [][]string {
	parent := map[string]string{}
	var find func(string) string
	find = func(n string) string {
		if p, ok := parent[n]; ok && p != n {
			r := find(p)
			parent[n] = r
			return r
		}
		return n
	}
	for _, n := range nodes {
		parent[n] = n
	}
	rank := map[string]int{} // lower applies earlier
	for _, g := range groups {
		for i, n := range g {
			if _, ok := parent[n]; !ok {
				continue
			}
			rank[n] = max(rank[n], len(g)-i)
			if i > 0 {
				if a, b := find(g[0]), find(n); a != b {
					parent[b] = a
				}
			}
		}
	}
	byRoot := map[string][]string{}
	var roots []string
	for _, n := range nodes {
		r := find(n)
		if _, ok := byRoot[r]; !ok {
			roots = append(roots, r)
		}
		byRoot[r] = append(byRoot[r], n)
	}
	var out [][]string
	for _, r := range roots {
		chain := byRoot[r]
		slices.SortStableFunc(chain, func(a, b string) int { return rank[a] - rank[b] })
		out = append(out, chain)
	}
	return out
}

package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// Action is a kind of change to a host. Rendering switches on it; nothing
// else does.
type Action string

// The actions a plan can hold.
const (
	InstallAgent Action = "install-agent" // no agent on the host
	UpgradeAgent Action = "upgrade-agent" // another agent binary is installed
	UpdateSpec   Action = "update-spec"   // the spec differs (or is missing)
	UpdateSecret Action = "update-secret" // a secret file differs (or is missing)
	StartAgent   Action = "start-agent"   // the agent is installed but not running
	RemoveAgent  Action = "remove-agent"  // destroy: remove everything hactl put there
)

// Desired is what one node should run.
type Desired struct {
	Node     string
	Spec     *spec.Spec
	SpecJSON []byte
	SpecHash string
	// Secrets maps node paths to their content.
	Secrets map[string][]byte
	// AgentBinary is the agent to install, AgentSHA256 its digest.
	AgentBinary  []byte
	AgentSHA256  string
	AgentVersion string
	// TakesOver is the HA daemon the host ran before hactl (the
	// cluster's takes_over), "" for none.
	TakesOver string
}

// Observed is what a host reported.
type Observed struct {
	Node string `json:"node"`
	// Error is set when the host could not be observed; the rest is empty.
	Error          string     `json:"error,omitempty"`
	AgentInstalled bool       `json:"agent_installed"`
	AgentSHA256    string     `json:"agent_sha256,omitempty"`
	AgentVersion   string     `json:"agent_version,omitempty"`
	AgentRunning   bool       `json:"agent_running"`
	SpecHash       string     `json:"spec_hash,omitempty"`
	Spec           *spec.Spec `json:"-"`
	// SecretHashes maps the path of each file in the host's secrets
	// folder to its keyed digest (spec.SecretDigest; KeySecretHashes),
	// never a plain hash: saved plans carry a fingerprint of them.
	SecretHashes map[string]string `json:"secret_hashes,omitempty"`
	Facts        Facts             `json:"facts"`
	// Applied is what hactl last applied to the host, nil before the first
	// apply.
	Applied *Applied `json:"applied,omitempty"`
	// Status is the agent's own report, nil when it never ran.
	Status *status.Status `json:"status,omitempty"`
}

// Applied is apply's record, on the host (layout.AppliedPath), of what it
// applied, so that drift can tell a hand-made change from configuration not
// yet applied.
type Applied struct {
	SpecHash    string            `json:"spec_hash"`
	AgentSHA256 string            `json:"agent_sha256"`
	Secrets     map[string]string `json:"secrets"` // path → keyed digest (spec.SecretDigest)
	// SecretDigest names the kind of the digests of Secrets:
	// KeyedDigests, or "" for a record of a hactl that kept plain
	// SHA-256 digests, which cannot be compared with keyed ones.
	SecretDigest string `json:"secret_digest,omitempty"`
}

// KeyedDigests is Applied.SecretDigest for keyed digests.
const KeyedDigests = "hmac-sha256"

// KeySecretHashes turns the plain SHA-256 of each secret file, as a
// host's probe reports them, into keyed digests (spec.SecretDigest), the
// only form the rest of hactl compares, prints or saves.
func (o *Observed) KeySecretHashes(key []byte) {
	for p, sum := range o.SecretHashes {
		o.SecretHashes[p] = spec.SecretDigest(key, sum)
	}
}

// SecretDigests maps the node path of each secret of the spec to its
// keyed digest, as the spec carries them.
func (d *Desired) SecretDigests() map[string]string {
	out := map[string]string{}
	if d.Spec != nil {
		for _, s := range d.Spec.Secrets {
			out[s.Path] = s.Digest
		}
	}
	return out
}

// Facts are properties of the host the roles depend on.
type Facts struct {
	Hostname string `json:"hostname,omitempty"`
	Kernel   string `json:"kernel,omitempty"`
	Arch     string `json:"arch,omitempty"`
	IPVS     bool   `json:"ipvs"`
	NFTables bool   `json:"nftables"`
	// Flowtable: the kernel has nftables flowtables (nf_flow_table_inet),
	// the nftables datapath's fast path.
	Flowtable bool     `json:"flowtable"`
	Systemd   bool     `json:"systemd"`
	Rsync     bool     `json:"rsync"`
	SNMPD     bool     `json:"snmpd"`
	Addrs     []string `json:"addresses,omitempty"` // "DEV PREFIX", then " secondary" when the kernel made it so
	// Programs says, for each notify command's program and, with syncs,
	// rsync and rrsync, whether the host has it as an executable
	// (observe.ScriptFor).
	Programs map[string]bool `json:"programs,omitempty"`
}

// Fingerprint identifies an observation: a saved plan is stale when a
// host's fingerprint changed.
func (o *Observed) Fingerprint() string {
	secrets := make([]string, 0, len(o.SecretHashes))
	for _, p := range spec.SortedKeys(o.SecretHashes) {
		secrets = append(secrets, p+"="+o.SecretHashes[p])
	}
	return spec.HashBytes([]byte(fmt.Sprintf("%v|%s|%v|%s|%v|%s", o.AgentInstalled, o.AgentSHA256, o.AgentRunning, o.SpecHash, secrets, o.Error)))
}

// Change is one action on one host, with what it changes in words.
type Change struct {
	Action  Action   `json:"action"`
	Details []string `json:"details,omitempty"`
}

// HostPlan is the plan of one host.
type HostPlan struct {
	Node  string `json:"node"`
	Error string `json:"error,omitempty"`
	// Changes is empty, never null, when the host needs none.
	Changes     []Change `json:"changes"`
	Fingerprint string   `json:"observed_fingerprint"`
	// Warnings are what the host lacks for the configuration to work
	// there, which apply does not change (a notify command's program).
	Warnings []string `json:"warnings,omitempty"`
	// Unaccounted is what the host runs that the configuration does not
	// account for (Unaccounted); apply leaves it, the operator decides.
	Unaccounted []string `json:"unaccounted,omitempty"`
	// Notes say how the host will run what it is given (the datapath of
	// each virtual service, and why).
	Notes []string `json:"notes,omitempty"`
	// Refused is what the host cannot run as configured; apply refuses.
	Refused []string `json:"refused,omitempty"`
}

// Plan is the whole plan.
type Plan struct {
	Hosts []HostPlan `json:"hosts"`
}

// HasChanges says whether applying the plan would change anything.
func (p *Plan) HasChanges() bool {
	for _, h := range p.Hosts {
		if len(h.Changes) > 0 {
			return true
		}
	}
	return false
}

// HasErrors says whether some host could not be observed.
func (p *Plan) HasErrors() bool {
	for _, h := range p.Hosts {
		if h.Error != "" {
			return true
		}
	}
	return false
}

// Compute returns the plan that takes every observed host to its desired
// state. It is a pure function: no I/O, same inputs, same plan.
func Compute(desired []*Desired, observed map[string]*Observed) *Plan {
	p := &Plan{}
	vips := clusterVIPs(desired)
	for _, d := range desired {
		o := observed[d.Node]
		if o == nil {
			o = &Observed{Node: d.Node, Error: "not observed"}
		}
		h := HostPlan{Node: d.Node, Fingerprint: o.Fingerprint(), Error: WithoutHost(d.Node, o.Error), Changes: []Change{}}
		if o.Error == "" {
			h.Changes = append(h.Changes, hostChanges(d, o)...)
			h.Warnings = hostWarnings(d, o)
			h.Unaccounted = Unaccounted(d, o, vips)
			h.Notes, h.Refused = lvsDatapaths(d, o)
			h.Notes = append(h.Notes, takeoverNotes(d, h.Changes)...)
		}
		p.Hosts = append(p.Hosts, h)
	}
	sort.Slice(p.Hosts, func(i, j int) bool { return p.Hosts[i].Node < p.Hosts[j].Node })
	return p
}

func hostChanges(d *Desired, o *Observed) []Change {
	var out []Change
	switch {
	case !o.AgentInstalled:
		out = append(out, Change{Action: InstallAgent, Details: []string{"agent " + d.AgentVersion}})
	case o.AgentSHA256 != d.AgentSHA256:
		out = append(out, Change{Action: UpgradeAgent, Details: []string{fmt.Sprintf("agent %s → %s", orUnknown(o.AgentVersion), d.AgentVersion)}})
	}
	var secretDetails []string
	digests := d.SecretDigests()
	for _, path := range spec.SortedKeys(d.Secrets) {
		want := digests[path]
		switch have, ok := o.SecretHashes[path]; {
		case !ok:
			secretDetails = append(secretDetails, "+ "+path)
		case have != want:
			secretDetails = append(secretDetails, "~ "+path+" (content changed)")
		}
	}
	for _, path := range spec.SortedKeys(o.SecretHashes) {
		if _, ok := d.Secrets[path]; !ok {
			secretDetails = append(secretDetails, "- "+path)
		}
	}
	if len(secretDetails) > 0 {
		out = append(out, Change{Action: UpdateSecret, Details: secretDetails})
	}
	if o.SpecHash != d.SpecHash {
		out = append(out, Change{Action: UpdateSpec, Details: DiffSpecs(o.Spec, d.Spec)})
	}
	if o.AgentInstalled && !o.AgentRunning && o.AgentSHA256 == d.AgentSHA256 {
		out = append(out, Change{Action: StartAgent, Details: []string{"agent is not running"}})
	}
	return out
}

// hostWarnings lists the notify commands whose program the host was seen
// not to have: the agent would find out only when an event comes, in its
// log.
func hostWarnings(d *Desired, o *Observed) []string {
	if d.Spec == nil {
		return nil
	}
	var out []string
	for _, n := range d.Spec.Notifies {
		prog := NotifyProgram(n.Command)
		if found, seen := o.Facts.Programs[prog]; seen && !found {
			out = append(out, fmt.Sprintf("notify %q: %s is not an executable program on %s, so its events would go nowhere; install it there or fix command", n.Name, prog, d.Node))
		}
	}
	return append(out, syncWarnings(d, o)...)
}

// The programs a sync runs: rsync on its source and targets, rrsync (the
// forced command of the sync key) on its targets.
const (
	Rsync  = "rsync"
	Rrsync = "rrsync"
)

// syncWarnings names the syncs that would fail on the host for want of
// rsync or rrsync: the agent finds out only at the first run.
func syncWarnings(d *Desired, o *Observed) []string {
	missing := func(prog string) bool {
		found, seen := o.Facts.Programs[prog]
		return seen && !found
	}
	var pushes, receives []string
	for _, s := range d.Spec.Syncs {
		pushes = append(pushes, s.Name)
	}
	for _, r := range d.Spec.SyncReceives {
		if !slices.Contains(receives, r.Name) {
			receives = append(receives, r.Name)
		}
	}
	var out []string
	if all := append(slices.Clone(pushes), receives...); len(all) > 0 && missing(Rsync) {
		slices.Sort(all)
		out = append(out, fmt.Sprintf("sync %s: rsync is not installed on %s, so nothing is copied from or to it; install it there (Debian: apt-get install rsync)", strings.Join(slices.Compact(all), ", "), d.Node))
	}
	if len(receives) > 0 && missing(Rrsync) {
		out = append(out, fmt.Sprintf("sync %s: rrsync is not installed on %s, so it refuses the sources' key and receives nothing; install it there (Debian: rsync from bookworm on ships it in /usr/bin)", strings.Join(receives, ", "), d.Node))
	}
	return out
}

// NotifyProgram is the program a notify command runs: its first word, as
// the agent splits it.
func NotifyProgram(command string) string {
	if f := strings.Fields(command); len(f) > 0 {
		return f[0]
	}
	return ""
}

// DestroyPlan is the plan that removes hactl from every observed host that
// has something of it.
func DestroyPlan(observed map[string]*Observed) *Plan {
	p := &Plan{}
	for _, name := range spec.SortedKeys(observed) {
		o := observed[name]
		h := HostPlan{Node: name, Fingerprint: o.Fingerprint(), Error: WithoutHost(name, o.Error), Changes: []Change{}}
		if o.Error == "" && (o.AgentInstalled || o.SpecHash != "" || len(o.SecretHashes) > 0) {
			h.Changes = []Change{{Action: RemoveAgent, Details: []string{"stop the agent; release the VIPs and services it started; delete its binary, service, spec, secrets and state"}}}
		}
		p.Hosts = append(p.Hosts, h)
	}
	return p
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Command apply measures hactl's core loop on ten lab nodes against Ansible
// doing the same work over the same SSH.
//
// The lab has one network and ten nodes; the cluster has two sync modules
// (one source, four targets each) so that the specs are not trivial. Each
// round, in turn:
//
//   - hactl: a first `hactl apply --auto-approve` on clean nodes (probe,
//     agent upload, secrets, spec checked by the agent, SysV init script,
//     start, wait until every agent reports its spec healthy), then
//     `hactl plan --detailed-exitcode` with nothing to change, several
//     times; then `hactl destroy`.
//   - Ansible with its defaults (forks 5, no pipelining), then tuned (forks
//     10, pipelining; ControlPersist is on in both): a playbook doing the
//     same on clean nodes (the same agent binary, the spec, secrets and init
//     script hactl installed, at the same paths and modes, the spec checked
//     with the agent, the service enabled in the lab's boot scripts and
//     started, then waiting for the agent to report healthy), then the same
//     playbook with --check, Ansible's no-change run; then `hactl destroy`.
//     Between the two, an untimed `hactl plan` must find nothing to change:
//     the playbook left the nodes exactly as hactl's apply does.
//
// hactl and both Ansible setups alternate, round after round, so that a
// noisy machine slows them alike. Both run in the lab's ctl namespace with
// the lab's key and known_hosts (host keys checked); every Ansible apply
// starts without a live SSH connection (a fresh ControlPath directory), and
// its check run reuses the apply's connections as Ansible does within its
// ControlPersist time. The playbook gathers no facts (it needs none), which
// only helps Ansible. It prints the medians and the ratios Ansible/hactl,
// and ends with one line "result: key=value …".
//
// Run as root from the repository root: go run ./bench/apply. It installs
// Ansible (Debian package) when missing.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/config"
	_ "github.com/hactl/hactl/providers/all"
)

const nodeCount = 10

func nodeName(i int) string { return fmt.Sprintf("n%02d", i+1) }

// clusterHCL is ten nodes on one network and two sync modules, each from
// one node to four others, synced on an interval (the agent starts no
// transfer while the benchmark runs).
func clusterHCL() string {
	var b strings.Builder
	b.WriteString("cluster \"bench\" {\n  key_file = \"cluster.key\"\n}\n\nnetwork \"lan\" {\n  cidr = \"192.168.0.0/24\"\n}\n")
	for i := range nodeCount {
		fmt.Fprintf(&b, "\nnode %q {\n  interface \"eth0\" {\n    network = network.lan\n    address = \"192.168.0.%d\"\n  }\n}\n", nodeName(i), 11+i)
	}
	for m, name := range []string{"docroot", "ftp"} {
		src := m * nodeCount / 2
		fmt.Fprintf(&b, "\nsync %q {\n  source {\n    node = node.%s\n    path = \"/srv/%s/\"\n  }\n", name, nodeName(src), name)
		for t := src + 1; t < src+nodeCount/2; t++ {
			fmt.Fprintf(&b, "  target {\n    node = node.%s\n    path = \"/srv/%s/\"\n  }\n", nodeName(t), name)
		}
		b.WriteString("  delete   = true\n  excludes = [\"*.tmp\", \".git/\"]\n  trigger  = \"interval\"\n  interval = \"1h\"\n  bwlimit  = \"10M\"\n}\n")
	}
	return b.String()
}

func main() {
	rounds := flag.Int("rounds", 3, "rounds of hactl, Ansible default and Ansible tuned, alternating")
	plans := flag.Int("plans", 5, "no-change hactl plans per round")
	flag.Parse()
	if err := run(*rounds, *plans); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench is a lab with the programs and files both systems use.
type bench struct {
	lab   *lab.Lab
	dir   string // configuration, binaries, Ansible's files
	hactl string
	agent string
}

// ansibleSetup is one Ansible configuration under test: forks and
// pipelining as set in its ansible.cfg, Ansible's defaults otherwise.
type ansibleSetup struct {
	name       string
	forks      int
	pipelining bool
}

var setups = []ansibleSetup{
	{name: "default", forks: 5},
	{name: "tuned", forks: 10, pipelining: true},
}

// writeConfig writes the setup's ansible.cfg, with a ControlPath
// directory of its own so that the run starts with no SSH connection.
func (s ansibleSetup) writeConfig(dir string, round int) error {
	cfg := fmt.Sprintf("[defaults]\nforks = %d\n\n[ssh_connection]\npipelining = %t\ncontrol_path_dir = %s\n",
		s.forks, s.pipelining, filepath.Join(dir, fmt.Sprintf("cp-%s-%d", s.name, round)))
	return os.WriteFile(filepath.Join(dir, s.name+".cfg"), []byte(cfg), 0o644)
}

func run(rounds, plans int) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: the lab builds network namespaces")
	}
	if rounds < 1 || plans < 1 {
		return errors.New("-rounds and -plans must be at least 1")
	}
	if err := installAnsible(); err != nil {
		return err
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hactl-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{dir: dir, hactl: filepath.Join(dir, "hactl"), agent: filepath.Join(dir, layout.AgentName)}
	builds := [][]string{{"-o", b.hactl, "./cmd/hactl"}, {"-o", b.agent, "./agentbin"}}
	for _, args := range builds {
		cmd := exec.Command("go", append([]string{"build"}, args...)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %v\n%s", args[len(args)-1], err, out)
		}
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "cluster.hcl"), []byte(clusterHCL()), 0o644); err != nil {
		return err
	}
	res, diags := config.Load(dir, config.Options{})
	if diags.HasErrors() {
		return diags
	}
	fmt.Printf("lab of %d nodes…\n", nodeCount)
	b.lab, err = lab.Up(ctx, res.Topology, lab.Options{Name: "bench", Replace: true})
	if err != nil {
		return err
	}
	defer b.lab.Down(context.Background())

	var hApply, hPlan []time.Duration
	aApply, aCheck := map[string][]time.Duration{}, map[string][]time.Duration{}
	for r := range rounds {
		fmt.Printf("\n== round %d of %d\n", r+1, rounds)
		d, err := timed(func() error { _, err := b.hactlRun(ctx, "apply", "--auto-approve"); return err })
		if err != nil {
			return err
		}
		hApply = append(hApply, d)
		fmt.Printf("hactl apply: %.3fs\n", d.Seconds())
		for range plans {
			d, err := timed(func() error { _, err := b.hactlRun(ctx, "plan", "--detailed-exitcode"); return err })
			if err != nil {
				return fmt.Errorf("the plan after apply (exit 2: it has changes): %w", err)
			}
			hPlan = append(hPlan, d)
			fmt.Printf("hactl plan, no changes: %.3fs\n", d.Seconds())
		}
		if r == 0 {
			// Ansible installs the very files hactl wrote.
			if err := b.writeAnsibleFiles(ctx); err != nil {
				return err
			}
		}
		if err := b.clean(ctx); err != nil {
			return err
		}
		for _, s := range setups {
			if err := s.writeConfig(dir, r); err != nil {
				return err
			}
			d, err := timed(func() error { return b.ansible(ctx, s.name, false) })
			if err != nil {
				return err
			}
			aApply[s.name] = append(aApply[s.name], d)
			// The same work: hactl finds nothing to change.
			if _, err := b.hactlRun(ctx, "plan", "--detailed-exitcode"); err != nil {
				return fmt.Errorf("hactl's plan after ansible %s (exit 2: it has changes): %w", s.name, err)
			}
			c, err := timed(func() error { return b.ansible(ctx, s.name, true) })
			if err != nil {
				return err
			}
			aCheck[s.name] = append(aCheck[s.name], c)
			fmt.Printf("ansible %s: apply %.3fs, check %.3fs\n", s.name, d.Seconds(), c.Seconds())
			if err := b.clean(ctx); err != nil {
				return err
			}
		}
	}

	ha, hp := median(hApply), median(hPlan)
	aa, at := median(aApply["default"]), median(aApply["tuned"])
	ac, atc := median(aCheck["default"]), median(aCheck["tuned"])
	fmt.Printf("\n%d nodes, medians of %d rounds (%d plans each):\n", nodeCount, rounds, plans)
	fmt.Printf("hactl:          apply %6.3fs   no-change plan %6.3fs\n", ha, hp)
	fmt.Printf("ansible:        apply %6.3fs   --check        %6.3fs   (forks 5)\n", aa, ac)
	fmt.Printf("ansible tuned:  apply %6.3fs   --check        %6.3fs   (forks 10, pipelining)\n", at, atc)
	fmt.Printf("ansible/hactl:  apply %.1f× (tuned %.1f×), no-change %.1f× (tuned %.1f×)\n", aa/ha, at/ha, ac/hp, atc/hp)
	fmt.Printf("\nresult: hactl_apply_s=%.3f hactl_plan_s=%.3f ansible_apply_s=%.3f ansible_tuned_apply_s=%.3f ansible_check_s=%.3f ansible_tuned_check_s=%.3f apply_ratio=%.2f apply_ratio_tuned=%.2f plan_ratio=%.2f plan_ratio_tuned=%.2f\n",
		ha, hp, aa, at, ac, atc, aa/ha, at/ha, ac/hp, atc/hp)
	return nil
}

// installAnsible installs the Debian package when ansible-playbook is
// missing, refreshing the package lists if the first try fails.
func installAnsible() error {
	if _, err := exec.LookPath("ansible-playbook"); err == nil {
		return nil
	}
	fmt.Println("installing ansible (Debian package)…")
	var out []byte
	var err error
	for _, args := range [][]string{{"install", "-y", "-qq", "ansible"}, {"update", "-qq"}, {"install", "-y", "-qq", "ansible"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err = cmd.CombinedOutput(); err == nil && args[0] == "install" {
			return nil
		}
	}
	return fmt.Errorf("installing ansible: %v\n%s", err, out)
}

// hactlRun runs hactl in ctl on the benchmark's configuration and agent.
func (b *bench) hactlRun(ctx context.Context, args ...string) (string, error) {
	return b.inCtl(ctx, nil, append([]string{b.hactl}, append(args, "-f", b.dir, "--agent-binary", b.agent)...)...)
}

// inCtl runs a command in the lab's ctl namespace, with env added to the
// lab's, and returns its output.
func (b *bench) inCtl(ctx context.Context, env []string, argv ...string) (string, error) {
	cmd, err := b.lab.Command(ctx, lab.Ctl, argv...)
	if err != nil {
		return "", err
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = b.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out), nil
}

// clean destroys what the last run installed, with hactl (the layout is
// the same), and checks that nothing is left.
func (b *bench) clean(ctx context.Context) error {
	if _, err := b.hactlRun(ctx, "destroy", "--auto-approve"); err != nil {
		return err
	}
	for _, n := range b.lab.Nodes() {
		if out, err := b.lab.Exec(ctx, n, "sh", "-c", "ls -d "+strings.Join(layout.Owned(), " ")+" 2>/dev/null; true"); err != nil || len(out) > 0 {
			return fmt.Errorf("%s not clean after destroy: %v %s", n, err, out)
		}
	}
	return nil
}

// playbook does what a first hactl apply does, with the files hactl
// installed (under files/NODE, by their paths on the node).
// The paths are the inventory's variables, from package layout.
const playbook = `- hosts: all
  gather_facts: false
  vars:
    files: "{{ playbook_dir }}/files/{{ inventory_hostname }}"
    version_dir: "{{ agent_dir }}/{{ agent_sha256 }}"
  tasks:
    - name: agent version directory
      file: {path: "{{ version_dir }}", state: directory}
    - name: agent binary
      copy: {src: "{{ playbook_dir }}/{{ agent_name }}", dest: "{{ version_dir }}/{{ agent_name }}", mode: "0755"}
    - name: current version
      file: {src: "{{ version_dir }}", dest: "{{ agent_link }}", state: link}
    - name: agent command
      file: {src: "{{ agent_link }}/{{ agent_name }}", dest: "{{ agent_bin }}", state: link}
    - name: configuration directories
      file: {path: "{{ item }}", state: directory, mode: "0700"}
      loop: ["{{ config_dir }}", "{{ secrets_dir }}"]
    - name: secrets
      copy: {src: "{{ item }}", dest: "{{ secrets_dir }}/", mode: "0600"}
      loop: "{{ query('fileglob', files + secrets_dir + '/*') }}"
    - name: spec, checked by the agent
      copy: {src: "{{ files }}{{ spec_path }}", dest: "{{ spec_path }}", mode: "0600", validate: "{{ agent_bin }} check %s"}
    - name: init script
      copy: {src: "{{ files }}{{ init_path }}", dest: "{{ init_path }}", mode: "0755"}
    - name: boot scripts directory
      file: {path: "{{ boot_dir }}", state: directory}
    - name: start at boot
      file: {src: "{{ init_path }}", dest: "{{ boot_link }}", state: link}
    - name: start the agent
      command: {cmd: "{{ init_path }} start", creates: "{{ pid_file }}"}
    - name: agent healthy
      wait_for: {path: "{{ status_path }}", search_regex: '"healthy": true', timeout: 30}
`

// writeAnsibleFiles writes the playbook, the inventory and, per node, the
// files hactl installed there (spec, secrets, init script).
func (b *bench) writeAnsibleFiles(ctx context.Context) error {
	agent, err := os.ReadFile(b.agent)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(agent)
	inv := fmt.Sprintf("[all:vars]\nansible_user=root\nansible_ssh_private_key_file=%s\nansible_ssh_common_args='-o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s -o IdentitiesOnly=yes'\nagent_sha256=%s\n",
		b.lab.KeyFile(), b.lab.KnownHostsFile(), hex.EncodeToString(sum[:]))
	for _, v := range [][2]string{
		{"agent_name", layout.AgentName}, {"agent_dir", layout.AgentDir}, {"agent_link", layout.AgentLink},
		{"agent_bin", layout.AgentBin}, {"config_dir", layout.ConfigDir}, {"secrets_dir", layout.SecretsDir},
		{"spec_path", layout.SpecPath}, {"init_path", layout.InitPath}, {"boot_dir", layout.LabBootDir},
		{"boot_link", layout.LabBootLink}, {"pid_file", layout.PidFile}, {"status_path", layout.StatusPath},
	} {
		inv += v[0] + "=" + v[1] + "\n"
	}
	inv += "\n[all]\n"
	for _, n := range b.lab.Nodes() {
		addr, err := b.lab.SSHAddress(n)
		if err != nil {
			return err
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return err
		}
		inv += fmt.Sprintf("%s ansible_host=%s ansible_port=%s\n", n, host, port)

		cmd, err := b.lab.Command(ctx, n, "tar", "-C", "/", "-c", strings.TrimPrefix(layout.ConfigDir, "/"), strings.TrimPrefix(layout.InitPath, "/"))
		if err != nil {
			return err
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		archive, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("%s: reading hactl's files: %v\n%s", n, err, stderr.Bytes())
		}
		dst := filepath.Join(b.dir, "files", n)
		if err := os.MkdirAll(dst, 0o700); err != nil {
			return err
		}
		untar := exec.Command("tar", "-C", dst, "-x")
		untar.Stdin = bytes.NewReader(archive)
		if out, err := untar.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: unpacking hactl's files: %v\n%s", n, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(b.dir, "inventory.ini"), []byte(inv), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, "playbook.yml"), []byte(playbook), 0o644)
}

// changedHosts matches a line of Ansible's recap that changed something.
var changedHosts = regexp.MustCompile(`(?m)^\S+\s+: ok=\d+\s+changed=[1-9]`)

// ansible runs the playbook with a setup's ansible.cfg, or checks it (a
// check that would change something is an error).
func (b *bench) ansible(ctx context.Context, setup string, check bool) error {
	argv := []string{"ansible-playbook", "-i", "inventory.ini", "playbook.yml"}
	if check {
		argv = append(argv, "--check")
	}
	out, err := b.inCtl(ctx, []string{"ANSIBLE_CONFIG=" + filepath.Join(b.dir, setup+".cfg")}, argv...)
	if err != nil {
		return fmt.Errorf("ansible %s: %w", setup, err)
	}
	if check && changedHosts.MatchString(out) {
		return fmt.Errorf("ansible %s --check after apply reports changes:\n%s", setup, out)
	}
	return nil
}

func timed(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}

// median is the middle duration, in seconds (the upper one of an even
// count).
func median(ds []time.Duration) float64 {
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2].Seconds()
}

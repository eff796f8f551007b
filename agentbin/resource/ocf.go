package resource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// DefaultOCFRoot is where Debian's resource-agents package (and most
// distributions) put OCF resource agents.
const DefaultOCFRoot = "/usr/lib/ocf"

// ocfName is what a provider, a type and a parameter name may be: they
// become a path and environment variable names.
var ocfName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// ocfParam is what a parameter name may be in OCF_RESKEY_<name>.
var ocfParam = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// rscTmp is where OCF agents keep their runtime state (HA_RSCTMP), as
// Pacemaker sets it.
const rscTmp = "/run/resource-agents"

// ocf is an OCF resource agent: `$OCF_ROOT/resource.d/PROVIDER/TYPE
// ACTION`, configured through OCF_RESKEY_<param> variables.
type ocf struct {
	*scripted
	agent string
}

var (
	_ Resource  = (*ocf)(nil)
	_ Validator = (*ocf)(nil)
)

func newOCF(r spec.Resource, root string) (Resource, error) {
	if root == "" {
		root = DefaultOCFRoot
	}
	if !ocfName.MatchString(r.OCFProvider) || !ocfName.MatchString(r.OCFType) {
		return nil, fmt.Errorf("resource %q: OCF provider %q and type %q must be plain names, e.g. heartbeat and IPaddr2", r.Name, r.OCFProvider, r.OCFType)
	}
	for _, k := range append(spec.SortedKeys(r.Params), spec.SortedKeys(r.SecretParams)...) {
		if !ocfParam.MatchString(k) {
			return nil, fmt.Errorf("resource %q: parameter name %q cannot be passed as OCF_RESKEY_%s; use the agent's parameter names (letters, digits, _)", r.Name, k, k)
		}
	}
	secretEnv := map[string]string{}
	for k, path := range r.SecretParams {
		secretEnv["OCF_RESKEY_"+k] = path
	}
	agent := filepath.Join(root, "resource.d", r.OCFProvider, r.OCFType)
	env := []string{
		"OCF_ROOT=" + root,
		"OCF_RA_VERSION_MAJOR=1",
		"OCF_RA_VERSION_MINOR=0",
		"OCF_RESOURCE_INSTANCE=" + r.Name,
		"OCF_RESOURCE_TYPE=" + r.OCFType,
		"OCF_RESOURCE_PROVIDER=" + r.OCFProvider,
		"HA_RSCTMP=" + rscTmp,
	}
	for _, k := range spec.SortedKeys(r.Params) {
		env = append(env, "OCF_RESKEY_"+k+"="+r.Params[k])
	}
	return &ocf{agent: agent, scripted: &scripted{
		name:    r.Name,
		what:    "ocf:" + r.OCFProvider + ":" + r.OCFType,
		timeout: timeoutOf(r.MonitorTimeoutMS),
		command: func(action string, timeout time.Duration) command {
			// Agents keep state files here; systemd-tmpfiles makes it at
			// boot where resource-agents is installed, but /run is empty
			// on hosts (and lab nodes) without that.
			_ = os.MkdirAll(rscTmp, 0o755)
			interval := 0
			if action == "monitor" {
				interval = r.MonitorIntervalMS
			}
			meta := []string{
				"OCF_RESKEY_CRM_meta_timeout=" + strconv.FormatInt(timeout.Milliseconds(), 10),
				"OCF_RESKEY_CRM_meta_interval=" + strconv.Itoa(interval),
			}
			return command{path: agent, args: []string{action}, env: append(env[:len(env):len(env)], meta...), secretEnv: secretEnv, timeout: timeout}
		},
		monitorAction: "monitor",
		running:       ocfRunning,
		// OCF wants 0 for stopping a stopped resource; 7 ("not running")
		// says the same, as Pacemaker accepts it.
		stoppedCodes: []int{7},
	}}, nil
}

// ocfRunning maps the exit status of an OCF agent's monitor action: 0
// running, 7 not running, 8 and 9 (running as master, failed as master)
// are taken as running: the agent's process is there, and hactl has no
// master/slave resources.
func ocfRunning(code int, _ string) (running, known bool) {
	switch code {
	case 0, 8, 9:
		return true, true
	case 7:
		return false, true
	}
	return false, false
}

// Validate checks that the agent is installed and runs its validate-all
// action, which checks the parameters without starting anything. An agent
// that does not implement validate-all (exit status 3) passes.
func (o *ocf) Validate(ctx context.Context) error {
	st, err := os.Stat(o.agent)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("resource %q (%s): no executable agent at %s; install the package that provides it (Debian: resource-agents) or fix the provider and type", o.name, o.what, o.agent)
	}
	r, err := o.do(ctx, "validate-all")
	if err != nil {
		return err
	}
	if r.code != 0 && r.code != 3 {
		return o.failure("validate-all", r)
	}
	return nil
}

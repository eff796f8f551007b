package resource

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// fake installs testdata/fake-program as systemctl (first on PATH), as an
// LSB script and as the OCF agent test:Fake, and returns the folder where
// it records its calls and reads its answers. systemd does not run here:
// the service kind is tested for the command lines it runs, against this
// fake systemctl only.
type fake struct {
	t      *testing.T
	dir    string
	script string // the LSB script
	root   string // OCF_ROOT
}

func newFake(t *testing.T) *fake {
	t.Helper()
	prog, err := os.ReadFile("testdata/fake-program")
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	f := &fake{t: t, dir: filepath.Join(base, "state"), script: filepath.Join(base, "init.d", "fake"), root: filepath.Join(base, "ocf")}
	for _, p := range []string{filepath.Join(base, "bin", "systemctl"), f.script, filepath.Join(f.root, "resource.d", "test", "Fake")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, prog, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_DIR", f.dir)
	t.Setenv("PATH", filepath.Join(base, "bin")+":"+os.Getenv("PATH"))
	return f
}

// answer sets what the fake prints and how it exits next time.
func (f *fake) answer(code int, stdout, stderr string) {
	f.t.Helper()
	for name, content := range map[string]string{"code": strconv.Itoa(code), "stdout": stdout, "stderr": stderr} {
		if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
}

// read returns one of the fake's records: calls or env.
func (f *fake) read(name string) string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// resource builds a resource of the kind that runs the fake.
func (f *fake) resource(kind string, timeoutMS int) Resource {
	f.t.Helper()
	r := spec.Resource{Kind: kind, Name: "web", MonitorIntervalMS: 5000, MonitorTimeoutMS: timeoutMS,
		Unit: "apache2.service", Script: f.script, OCFProvider: "test", OCFType: "Fake",
		Params: map[string]string{"ip": "192.0.2.33", "cidr_netmask": "24"}}
	res, err := New(r, Env{OCFRoot: f.root})
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// act runs one action; for monitor it returns whether it runs.
func act(ctx context.Context, r Resource, action string) (bool, error) {
	switch action {
	case "start":
		return false, r.Start(ctx)
	case "stop":
		return false, r.Stop(ctx)
	case "validate":
		return false, r.(Validator).Validate(ctx)
	}
	return r.Monitor(ctx)
}

func TestExitStatusesMapToStates(t *testing.T) {
	f := newFake(t)
	tests := []struct {
		kind, action   string
		code           int
		stdout, stderr string
		running        bool
		err            string // a part of the error; "" for none
	}{
		{kind: "lsb", action: "start", code: 0},
		{kind: "lsb", action: "start", code: 1, stderr: "apache2: cannot bind", err: `resource "web" (LSB script ` + f.script + `): start failed: exit status 1 (generic error): apache2: cannot bind; see the output`},
		{kind: "lsb", action: "start", code: 6, err: "exit status 6 (not configured); check the resource's parameters"},
		{kind: "lsb", action: "start", code: 5, err: "(not installed); install the program"},
		{kind: "lsb", action: "stop", code: 0},
		{kind: "lsb", action: "stop", code: 7},
		{kind: "lsb", action: "stop", code: 1, err: "stop failed: exit status 1 (generic error)"},
		{kind: "lsb", action: "monitor", code: 0, running: true},
		{kind: "lsb", action: "monitor", code: 1, stdout: "apache2 is dead but pid file exists"},
		{kind: "lsb", action: "monitor", code: 2},
		{kind: "lsb", action: "monitor", code: 3, stdout: "apache2 is not running"},
		{kind: "lsb", action: "monitor", code: 4, err: "status failed: exit status 4 (status unknown)"},
		{kind: "lsb", action: "monitor", code: 150, err: "exit status 150 (unknown status)"},

		{kind: "service", action: "start", code: 0},
		{kind: "service", action: "start", code: 5, stderr: "Failed to start apache2.service: Unit apache2.service not found.", err: "(not installed): Failed to start apache2.service: Unit apache2.service not found.; install"},
		{kind: "service", action: "stop", code: 0},
		{kind: "service", action: "stop", code: 5, stderr: "Unit apache2.service not loaded."},
		{kind: "service", action: "stop", code: 1, err: `resource "web" (systemd unit apache2.service): stop failed`},
		{kind: "service", action: "monitor", code: 0, stdout: "active\n", running: true},
		{kind: "service", action: "monitor", code: 3, stdout: "inactive\n"},
		{kind: "service", action: "monitor", code: 3, stdout: "failed\n"},
		{kind: "service", action: "monitor", code: 3, stdout: "activating\n"},
		{kind: "service", action: "monitor", code: 1, stderr: "System has not been booted with systemd as init system (PID 1). Can't operate.", err: "is-active failed: exit status 1 (generic error): System has not been booted with systemd"},

		{kind: "ocf", action: "start", code: 0},
		{kind: "ocf", action: "start", code: 1, stdout: "INFO: trying", stderr: "ERROR: it broke", err: "(ocf:test:Fake): start failed: exit status 1 (generic error): INFO: trying\nERROR: it broke; see"},
		{kind: "ocf", action: "start", code: 2, err: "(invalid or excess arguments); check the resource's parameters"},
		{kind: "ocf", action: "start", code: 3, err: "(unimplemented feature); the program does not implement"},
		{kind: "ocf", action: "start", code: 4, err: "(insufficient privileges); run hactl-agent as root"},
		{kind: "ocf", action: "start", code: 5, err: "(not installed)"},
		{kind: "ocf", action: "start", code: 6, err: "(not configured)"},
		{kind: "ocf", action: "start", code: 7, err: "(not running)"},
		{kind: "ocf", action: "stop", code: 0},
		{kind: "ocf", action: "stop", code: 7},
		{kind: "ocf", action: "stop", code: 1, err: "stop failed: exit status 1 (generic error)"},
		{kind: "ocf", action: "monitor", code: 0, running: true},
		{kind: "ocf", action: "monitor", code: 7},
		{kind: "ocf", action: "monitor", code: 8, running: true},
		{kind: "ocf", action: "monitor", code: 9, running: true},
		{kind: "ocf", action: "monitor", code: 1, err: "monitor failed: exit status 1 (generic error)"},
		{kind: "ocf", action: "monitor", code: 5, err: "monitor failed: exit status 5 (not installed)"},
		{kind: "ocf", action: "monitor", code: 6, err: "(not configured)"},
		{kind: "ocf", action: "validate", code: 0},
		{kind: "ocf", action: "validate", code: 3},
		{kind: "ocf", action: "validate", code: 6, stderr: "ERROR: ip is invalid", err: "validate-all failed: exit status 6 (not configured): ERROR: ip is invalid; check"},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.action+"/"+strconv.Itoa(tt.code)+"/"+firstWord(tt.stdout), func(t *testing.T) {
			f.answer(tt.code, tt.stdout, tt.stderr)
			running, err := act(context.Background(), f.resource(tt.kind, 5000), tt.action)
			if tt.err == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want one containing %q", err, tt.err)
			}
			if running != tt.running {
				t.Errorf("running = %v, want %v", running, tt.running)
			}
		})
	}
}

func TestCommandLines(t *testing.T) {
	f := newFake(t)
	f.answer(0, "active", "")
	for _, kind := range []string{"service", "lsb", "ocf"} {
		r := f.resource(kind, 5000)
		for _, action := range []string{"start", "monitor", "stop"} {
			if _, err := act(context.Background(), r, action); err != nil {
				t.Fatalf("%s %s: %v", kind, action, err)
			}
		}
	}
	if err := f.resource("ocf", 5000).(Validator).Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `systemctl start apache2.service
systemctl is-active apache2.service
systemctl stop apache2.service
fake start
fake status
fake stop
Fake start
Fake monitor
Fake stop
Fake validate-all
`
	if got := f.read("calls"); got != want {
		t.Errorf("commands run:\n%s\nwant:\n%s", got, want)
	}
}

func TestOCFAgentsGetTheirEnvironment(t *testing.T) {
	f := newFake(t)
	f.answer(0, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := f.resource("ocf", 7000)
	for _, tt := range []struct{ action, interval string }{{"monitor", "5000"}, {"start", "0"}} {
		if _, err := act(ctx, r, tt.action); err != nil {
			t.Fatal(err)
		}
		want := "OCF_RA_VERSION_MAJOR=1\nOCF_RA_VERSION_MINOR=0\n" +
			"OCF_RESKEY_CRM_meta_interval=" + tt.interval + "\nOCF_RESKEY_CRM_meta_timeout=7000\n" +
			"OCF_RESKEY_cidr_netmask=24\nOCF_RESKEY_ip=192.0.2.33\n" +
			"OCF_RESOURCE_INSTANCE=web\nOCF_RESOURCE_PROVIDER=test\nOCF_RESOURCE_TYPE=Fake\n" +
			"OCF_ROOT=" + f.root + "\n"
		if got := f.read("env"); got != want {
			t.Errorf("%s: environment:\n%s\nwant:\n%s", tt.action, got, want)
		}
	}
}

func TestShorterDeadlineIsTheOCFTimeout(t *testing.T) {
	f := newFake(t)
	f.answer(0, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := f.resource("ocf", 60000).Start(ctx); err != nil {
		t.Fatal(err)
	}
	env := f.read("env")
	i := strings.Index(env, "OCF_RESKEY_CRM_meta_timeout=")
	ms, _ := strconv.Atoi(strings.SplitN(env[i+len("OCF_RESKEY_CRM_meta_timeout="):], "\n", 2)[0])
	if ms <= 0 || ms > 3000 {
		t.Errorf("OCF_RESKEY_CRM_meta_timeout=%d, want the 3 s of the context's deadline at most", ms)
	}
}

func TestHungActionIsKilledWithItsChildren(t *testing.T) {
	f := newFake(t)
	f.answer(0, "", "")
	if err := os.WriteFile(filepath.Join(f.dir, "sleep"), []byte("60"), 0o644); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	err := f.resource("lsb", 2000).Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), `resource "web" (LSB script `+f.script+`): start: `) ||
		!strings.Contains(err.Error(), "did not finish within 2s (context deadline exceeded): killed; find out why it hangs, or raise the resource's monitor_timeout") {
		t.Fatalf("error %v, want a timeout naming the resource", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("took %v to give up on a 2 s timeout", took)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(f.read("child")))
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	if err := f.resource("lsb", 60000).Stop(ctx); err == nil || !strings.Contains(err.Error(), "stop: "+f.script+" stop: context canceled: killed") {
		t.Fatalf("error %v, want the action killed when its context is cancelled", err)
	}
}

func TestMissingProgramIsAnError(t *testing.T) {
	r, err := New(spec.Resource{Kind: "lsb", Name: "web", Script: "/nonexistent/init.d/apache2", MonitorTimeoutMS: 1000}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Monitor(context.Background()); err == nil || !strings.Contains(err.Error(), `resource "web" (LSB script /nonexistent/init.d/apache2): status: running /nonexistent/init.d/apache2 status:`) || !strings.Contains(err.Error(), "check that it is installed") {
		t.Errorf("error %v", err)
	}
	o, err := New(spec.Resource{Kind: "ocf", Name: "db", OCFProvider: "heartbeat", OCFType: "NoSuchAgent"}, Env{OCFRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.(Validator).Validate(context.Background()); err == nil || !strings.Contains(err.Error(), `resource "db" (ocf:heartbeat:NoSuchAgent): no executable agent at`) {
		t.Errorf("error %v", err)
	}
}

func TestNewRefusesBadSpecs(t *testing.T) {
	tests := []struct {
		r   spec.Resource
		err string
	}{
		{spec.Resource{Kind: "vip", Address: "192.0.2.1/24", Interface: "eth0"}, "a vip resource has no name"},
		{spec.Resource{Kind: "dhcp", Name: "x"}, `resource "x": unknown kind "dhcp"`},
		{spec.Resource{Kind: "vip", Name: "x", Address: "192.0.2.1", Interface: "eth0"}, `vip address "192.0.2.1" is not an address with a prefix length`},
		{spec.Resource{Kind: "vip", Name: "x", Address: "fe80::1%eth0/64", Interface: "eth0"}, "is not an address with a prefix length"},
		{spec.Resource{Kind: "vip", Name: "x", Address: "192.0.2.1/24"}, "names no interface"},
		{spec.Resource{Kind: "vip", Name: "x", Address: "192.0.2.1/24", Interface: "eth0", GARPCount: -1}, "must be 0 or more"},
		{spec.Resource{Kind: "service", Name: "x", Unit: "../x"}, "is not a systemd unit name"},
		{spec.Resource{Kind: "service", Name: "x", Unit: "--user"}, "is not a systemd unit name"},
		{spec.Resource{Kind: "lsb", Name: "x", Script: "apache2"}, "is not an absolute path"},
		{spec.Resource{Kind: "ocf", Name: "x", OCFProvider: "..", OCFType: "Dummy"}, "must be plain names"},
		{spec.Resource{Kind: "ocf", Name: "x", OCFProvider: "heartbeat", OCFType: "a/b"}, "must be plain names"},
		{spec.Resource{Kind: "ocf", Name: "x", OCFProvider: "heartbeat", OCFType: "Dummy", Params: map[string]string{"a-b": "1"}}, `parameter name "a-b" cannot be passed`},
	}
	for _, tt := range tests {
		r, err := New(tt.r, Env{})
		if err == nil || !strings.Contains(err.Error(), tt.err) || r != nil {
			t.Errorf("New(%+v) = %v, %v; want nil and an error containing %q", tt.r, r, err, tt.err)
		}
	}
}

// A secret parameter reaches the OCF agent in its environment, read from
// its secret file at each action (a new value counts at once), and its
// value is masked in what the agent prints, which goes into errors, the
// log and status.json. A file that cannot be read fails the action
// without running the agent.
func TestOCFSecretParamsComeFromTheirFileAndAreMasked(t *testing.T) {
	f := newFake(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pw := filepath.Join(t.TempDir(), "ocf-db-pgsql-replication_passwd")
	r := spec.Resource{Kind: "ocf", Name: "pgsql", MonitorIntervalMS: 5000, MonitorTimeoutMS: 7000, OCFProvider: "test", OCFType: "Fake",
		Params: map[string]string{"ip": "192.0.2.33"}, SecretParams: map[string]string{"replication_passwd": pw}}
	res, err := New(r, Env{OCFRoot: f.root})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, value string
		code        int
		stdout      string
		wantEnv     string
		wantErr     string
		notInErr    string
	}{
		{name: "value reaches the agent", value: "s3cret pa$$ 'word'", wantEnv: "OCF_RESKEY_replication_passwd=s3cret pa$$ 'word'\n"},
		{name: "a new value counts at the next action", value: "0ther-Secret", wantEnv: "OCF_RESKEY_replication_passwd=0ther-Secret\n"},
		{name: "the agent's output is masked", value: "hunter22", code: 1, stdout: "cannot log in with password hunter22 as replicator",
			wantErr: "cannot log in with password (sensitive) as replicator", notInErr: "hunter22"},
		{name: "missing file fails the action without running the agent", wantErr: "reading the value of OCF_RESKEY_replication_passwd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(filepath.Join(f.dir, "env"))
			if tt.value != "" {
				if err := os.WriteFile(pw, []byte(tt.value), 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				os.Remove(pw)
			}
			f.answer(tt.code, tt.stdout, "")
			err := res.Start(ctx)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Start = %v; want an error with %q", err, tt.wantErr)
			}
			if tt.notInErr != "" && strings.Contains(err.Error(), tt.notInErr) {
				t.Errorf("the error shows the secret: %v", err)
			}
			if tt.wantEnv != "" && !strings.Contains(f.read("env"), tt.wantEnv) {
				t.Errorf("environment:\n%s\nwant a line %q", f.read("env"), tt.wantEnv)
			}
			if tt.value == "" {
				if _, err := os.Stat(filepath.Join(f.dir, "env")); err == nil {
					t.Error("the agent ran without its secret parameter")
				}
			}
		})
	}
}

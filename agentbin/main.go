// Command hactl-agent is the small static program hactl installs on every
// node. It reads the node's spec, converges the host to it, keeps it there
// and reports its status. It must stay small and static (CGO_ENABLED=0): it
// imports neither HCL nor lipgloss nor cobra, only the standard library and
// the kernel-facing libraries its roles need.
//
// Commands:
//
//	hactl-agent run          the agent (what the service runs)
//	hactl-agent status       print the agent's status JSON
//	hactl-agent check FILE   check a spec file, as the agent would before taking it
//	hactl-agent ctl ROLE OP [ARG...]
//	                         hand an operator's request to a role of the running agent
//	                         (heartbeat: standby | online | maintenance on|off | move GROUP [NODE])
//	hactl-agent release      stop every resource the agent started (destroy runs it
//	                         once the agent is stopped)
//	hactl-agent version      print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/hactl/hactl/agentbin/agent"
	"github.com/hactl/hactl/agentbin/heartbeat"
	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/roles"
	"github.com/hactl/hactl/agentbin/spec"
)

// version is set by the release build (-ldflags -X main.version=...).
var version = "dev"

const usage = "usage: hactl-agent run|status|check FILE|ctl ROLE OP [ARG...]|release|version\n" +
	"  ctl heartbeat " + heartbeat.RequestUsage

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	specPath := fs.String("spec", layout.SpecPath, "spec file")
	statusPath := fs.String("status", layout.StatusPath, "status file")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	logger := log.New(stderr, "hactl-agent: ", log.LstdFlags|log.LUTC)
	switch args[0] {
	case "version", "--version":
		fmt.Fprintf(stdout, "hactl-agent %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "run":
		smallProcs()
		heapFor(&spec.Spec{})
		favourGroup(logger)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		reload := make(chan struct{}, 1)
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		go func() {
			for range hup {
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		}()
		a := agent.New(agent.Config{Version: version, SpecPath: *specPath, StatusPath: *statusPath, Logger: logger,
			StateDir: layout.StateDir, ControlPath: layout.ControlPath, Roles: roles.All, OnSpec: tuneFor})
		if err := a.Run(ctx, reload); err != nil {
			logger.Print(err)
			return 1
		}
		return 0
	case "status":
		data, err := os.ReadFile(*statusPath)
		if err != nil {
			fmt.Fprintf(stderr, "hactl-agent: no status: %v\n", err)
			return 1
		}
		_, _ = stdout.Write(data)
		return 0
	case "ctl":
		words := fs.Args()
		if len(words) < 2 {
			fmt.Fprintln(stderr, usage)
			return 2
		}
		if err := agent.SendControl(layout.ControlPath, role.Request{Role: words[0], Op: words[1], Args: words[2:]}); err != nil {
			fmt.Fprintf(stderr, "hactl-agent: %v\n", err)
			return 1
		}
		return 0
	case "release":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := heartbeat.ReleaseAll(ctx, layout.StateDir, logger); err != nil {
			fmt.Fprintf(stderr, "hactl-agent: %v; stop what is left by hand, then run hactl-agent release again\n", err)
			return 1
		}
		return 0
	case "check":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, usage)
			return 2
		}
		data, err := os.ReadFile(fs.Arg(0))
		if err == nil {
			_, err = spec.Parse(data)
		}
		if err != nil {
			fmt.Fprintf(stderr, "hactl-agent: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: valid spec %s\n", fs.Arg(0), spec.HashBytes(data)[:12])
		return 0
	}
	fmt.Fprintln(stderr, usage)
	return 2
}

// smallProcs runs the agent on one P until its spec says more
// (procsFor), unless GOMAXPROCS says otherwise. With an idle P, each
// goroutine the agent readies also wakes a thread that finds nothing to
// do: one P is what an idle node needs.
func smallProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// tuneFor sets the agent's Ps and its heap's growth for a spec.
func tuneFor(sp *spec.Spec) {
	procsFor(sp)
	heapFor(sp)
}

// procsFor sets the agent's Ps for a spec, unless GOMAXPROCS is set: every
// CPU where a proxy listens — it serves clients on as many cores as
// HAProxy's threads or nginx's workers would (bench/proxy on two cores:
// HTTPS small responses 12.9k requests/s on one P, 16.9k on two) — and
// otherwise two (one on a single CPU) where the heartbeat runs. Starting a
// command holds its P until the child has called exec (Go forks with vfork and does not
// release the P meanwhile), and on a loaded machine that took over 100 ms:
// a runtime trace of a lab node during a failover, with both cores busy,
// showed the tie-breaker's ping holding the agent's only P for 118 ms, and
// the heartbeat engine, runnable all along, missed its ticks until a peer
// declared the node dead (issue 15). With a second P the engine runs while
// a command starts. It costs CPU: each tick's wake-up of the engine also
// wakes a thread that finds nothing to do (the heartbeat role 0.63–0.75 s
// of CPU per minute on one P, 0.81–0.83 on two, bench/flood -pair).
func procsFor(sp *spec.Spec) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	n := 1
	if sp.Heartbeat != nil {
		n = min(2, runtime.NumCPU())
	}
	if len(sp.Proxies) > 0 {
		n = runtime.NumCPU()
	}
	runtime.GOMAXPROCS(n) // the same n changes nothing and stops nothing
}

// favourGroup gives the agent's autogroup — the kernel's scheduling group
// of its session, which the supervisor's setsid starts — the weight of
// nice -10, where the kernel groups by session (a host without systemd;
// systemd's unit sets CPUWeight instead). Shares are given to groups
// before tasks: on a machine whose cores were busy, the mostly idle
// agent's group waited for the busy ones up to 316 ms with every Go
// thread of the agent idle (a runtime trace), and peers declared the node
// dead. Measured with two CPU hogs and TestSyncFollowsTheGroupOnFailover:
// without it, over six runs, 6 ticks more than 50 ms late and 2 peers
// declared dead; with it, over eight, none (issue 15). Its commands run in the same group: a failover's
// rsync and resource agents start as quickly.
func favourGroup(logger *log.Logger) {
	err := os.WriteFile("/proc/self/autogroup", []byte(agentGroupNice), 0)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		logger.Printf("cannot raise the agent's scheduling group to nice %s (%v): under load its heartbeats may be late", agentGroupNice, err)
	}
}

// agentGroupNice is the nice value of the agent's autogroup.
const agentGroupNice = "-10"

// heapFor sets how much the agent's heap grows between collections,
// unless GOGC says otherwise. The agent's live heap is small (under 1 MB
// with the monitor role keeping 140 series), so Go's default collects it
// only at its 4 MB minimum goal, and what the heap reached stays
// resident: at 50 the goal is 2 MB. On an idle monitored node that is a
// collection every 100 s or so, of half a millisecond. A proxy allocates
// about 6 KB a request (net/http's server and client, ReverseProxy): with
// a 2 MB goal that is a collection every 350 requests or so, 50 a second
// at bench/proxy's 18,000. At 200 it collects a quarter as often, for the
// CPU of about 10 µs a request (BenchmarkSmallRequest's cpu-µs/op, three
// interleaved rounds: 66–76 at 50, 53–61 at 200). The price is memory:
// the heap may reach three times its live size where a proxy runs.
func heapFor(sp *spec.Spec) {
	if os.Getenv("GOGC") != "" {
		return
	}
	percent := 50
	if len(sp.Proxies) > 0 {
		percent = 200
	}
	debug.SetGCPercent(percent)
}

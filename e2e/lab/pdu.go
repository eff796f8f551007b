package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/fence"
	"github.com/hactl/hactl/agentbin/layout"
)

// The lab's power switch (its "PDU") is a daemon in ctl, this package's
// code re-executed from the running binary, serving fence.LabPDUHandler on
// port PDUPort of every ctl address. Every node's /etc/hactl-lab/pdu names
// ctl's address on the first of the lab's networks the node is on, and
// the switch's token, so that the node's agent can fence its peers with
// the "lab" fence type.
const (
	// PDUPort is the TCP port of the power switch.
	PDUPort = 6230
	// envLab names the lab to the power switch daemon.
	envLab = "HACTL_LAB_NAME"
	// pduTokenFile and pduLogFile are in the lab's state directory.
	pduTokenFile = "pdu.token"
	pduLogFile   = "pdu.log"
	// rebootDelay is how long a node a reboot powered off stays off.
	rebootDelay = time.Second
)

// pduState is the power switch daemon, to be killed by Down.
type pduState struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"` // start time, to tell a reused pid
}

// pduAddress is where a node reaches the power switch: ctl's address on
// the first of the lab's networks the node is on (ctl is on every one, in
// the networks' order).
func pduAddress(st *state, n *nodeState) netip.AddrPort {
	for _, c := range st.Ctl.Ifaces {
		for _, i := range n.Ifaces {
			if i.Network == c.Network {
				return netip.AddrPortFrom(c.Address.Addr(), PDUPort)
			}
		}
	}
	return netip.AddrPort{}
}

// pduFile is a node's /etc/hactl-lab/pdu.
func pduFile(st *state, n *nodeState, token string) bootFile {
	return bootFile{Path: layout.LabPDUPath, Mode: 0o600, Data: fmt.Sprintf("address=%s\ntoken=%s\n", pduAddress(st, n), token)}
}

// newPDUToken makes the switch's random token and keeps it, readable by
// root only, in the lab's directory for the daemon.
func newPDUToken(dir string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating the power switch's token: %w", err)
	}
	token := hex.EncodeToString(b)
	return token, writeFileAtomic(filepath.Join(dir, pduTokenFile), []byte(token+"\n"), 0o600)
}

// startPDU starts the power switch daemon in ctl and records it. It
// outlives the process that starts it, like the nodes' inits.
func startPDU(dir string, st *state) error {
	pid, start, err := startSelf(st.Ctl.Netns, filepath.Join(dir, pduLogFile), []string{envRole + "=pdu", envLab + "=" + st.Name}, 0)
	if err != nil {
		return fmt.Errorf("starting the lab's power switch: %w", err)
	}
	st.PDU = &pduState{Pid: pid, Start: start}
	return nil
}

// waitPDU waits until the power switch accepts connections in ctl.
func (l *Lab) waitPDU(ctx context.Context) error {
	addr := netip.AddrPortFrom(l.st.Ctl.Ifaces[0].Address.Addr(), PDUPort).String()
	for {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := l.Dial(dctx, Ctl, "tcp", addr)
		cancel()
		if err == nil {
			return c.Close()
		}
		if !pidAlive(l.st.PDU.Pid, l.st.PDU.Start) {
			return fmt.Errorf("the lab's power switch exited (see %s)", filepath.Join(l.dir, pduLogFile))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the lab's power switch does not answer on %s (see %s): %w", addr, filepath.Join(l.dir, pduLogFile), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pidAlive reports whether a process runs, and is the one that started
// at start.
func pidAlive(pid int, start uint64) bool {
	s := procState(pid)
	return s != 0 && s != 'Z' && startTime(pid) == start
}

// actionKey carries the switch's action ("off" or "reboot") from the URL
// to the kill function fence.LabPDUHandler calls.
type actionKey struct{}

// pduDaemon is the power switch: it serves fence.LabPDUHandler in ctl and
// logs every request to its standard error (the lab's pdu.log).
func pduDaemon(name string) error {
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	token, err := os.ReadFile(filepath.Join(dirOf(name), pduTokenFile))
	if err != nil {
		return fmt.Errorf("reading the power switch's token: %w", err)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", PDUPort))
	if err != nil {
		return fmt.Errorf("power switch: %w", err)
	}
	logger.Printf("power switch of lab %s listening on port %d (pid %d)", name, PDUPort, os.Getpid())
	srv := &http.Server{Handler: pduHandler(name, string(bytes.TrimSpace(token)), logger), ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// pduHandler is fence.LabPDUHandler powering the lab's nodes off, and on
// again a moment after a reboot, with one log line per request.
func pduHandler(name, token string, logger *log.Logger) http.Handler {
	kill := func(ctx context.Context, node string) error {
		// Finish what was asked even if the asker gives up.
		ctx = context.WithoutCancel(ctx)
		l, err := Open(name)
		if err != nil {
			return err
		}
		if err := l.PowerOff(ctx, node); err != nil {
			logger.Printf("powering %s off: %v", node, err)
			return err
		}
		if ctx.Value(actionKey{}) == "reboot" {
			go func() {
				time.Sleep(rebootDelay)
				if err := l.PowerOn(ctx, node); err != nil {
					logger.Printf("powering %s back on: %v", node, err)
					return
				}
				logger.Printf("%s is powered on again (reboot)", node)
			}()
		}
		return nil
	}
	inner := fence.LabPDUHandler(token, kill)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		inner.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), actionKey{}, action)))
		logger.Printf("%s: %s %s: %d %s", who(name, r.RemoteAddr), r.Method, r.URL.Path, rec.code, http.StatusText(rec.code))
	})
}

// statusRecorder remembers the status code a handler answers.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// who names the lab member at a remote address, for the switch's log.
func who(name, remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return remote
	}
	addr := ap.Addr().Unmap()
	st, err := loadState(name)
	if err != nil {
		return addr.String()
	}
	members := []*nsState{st.Ctl, st.Client}
	for _, n := range st.Nodes {
		members = append(members, &n.nsState)
	}
	for _, m := range members {
		for _, i := range m.Ifaces {
			if i.Address.Addr() == addr {
				return fmt.Sprintf("%s (%s)", m.Name, addr)
			}
		}
	}
	return addr.String()
}

// PowerOff cuts a node's power, as its power switch does: its links go
// down at the switch (its addresses, a VIP it held among them, vanish
// from the networks) and every process of it is killed. It stays off
// until PowerOn or Restart; powering off a node that is off does nothing.
func (l *Lab) PowerOff(ctx context.Context, node string) error {
	return l.change(func(st *state) error {
		n, err := st.node(node)
		if err != nil {
			return err
		}
		ports, err := st.ports(node, "")
		if err != nil {
			return err
		}
		if err := setPorts(st, ports, false); err != nil {
			return err
		}
		n.Off = true
		if err := killNode(ctx, n); err != nil {
			// The links are down: record that the node is off anyway.
			return errors.Join(err, saveState(st))
		}
		return nil
	})
}

// PowerOn boots a node that is off or killed, as Restart does, and waits
// for its sshd; a node that runs is left alone.
func (l *Lab) PowerOn(ctx context.Context, node string) error {
	return l.boot(ctx, node, false)
}

// Reboot powers a node off, and on again a moment later.
func (l *Lab) Reboot(ctx context.Context, node string) error {
	if err := l.PowerOff(ctx, node); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(rebootDelay):
	}
	return l.PowerOn(ctx, node)
}

// pduLog returns the last lines of the power switch's log.
func pduLog(dir string, lines int) []string {
	b, err := os.ReadFile(filepath.Join(dir, pduLogFile))
	if err != nil {
		return nil
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) == 1 && all[0] == "" {
		return nil
	}
	return all[max(0, len(all)-lines):]
}

// PDULogFile is the power switch's log: one line per request, "who: POST
// /off/NODE: 200 OK", stamped to the microsecond in local time.
func (l *Lab) PDULogFile() string { return filepath.Join(l.dir, pduLogFile) }

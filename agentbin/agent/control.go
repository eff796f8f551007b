package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
)

// controlTimeout bounds an operator's request, end to end.
const controlTimeout = 30 * time.Second

type ctlCall struct {
	req   role.Request
	reply chan error
}

// ControlReply is the agent's answer on the control socket.
type ControlReply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// serveControl listens on the control socket (root only: mode 0600) for
// one JSON request per connection.
func (a *Agent) serveControl(ctx context.Context) (func(), error) {
	path := a.cfg.ControlPath
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go a.handleControl(ctx, conn)
		}
	}()
	return func() { ln.Close(); os.Remove(path) }, nil
}

func (a *Agent) handleControl(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(controlTimeout))
	var req role.Request
	reply := ControlReply{OK: true}
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req); err != nil {
		reply = ControlReply{Error: "bad request: " + err.Error()}
	} else if err := a.Control(ctx, req); err != nil {
		reply = ControlReply{Error: err.Error()}
	}
	_ = json.NewEncoder(conn).Encode(reply)
}

// Control hands an operator's request to the agent loop and waits for the
// role's answer.
func (a *Agent) Control(ctx context.Context, req role.Request) error {
	call := ctlCall{req: req, reply: make(chan error, 1)}
	select {
	case a.ctl <- call:
	case <-ctx.Done():
		return errors.New("the agent is stopping")
	}
	select {
	case err := <-call.reply:
		return err
	case <-ctx.Done():
		return errors.New("the agent is stopping")
	}
}

// control routes a request to its role. The role answers in a goroutine of
// its own, so that the loop goes on (taking specs, writing status) while
// it works; the request ends when the role stops or after controlTimeout,
// so a role that failed can never hold the operator, or the loop, forever.
func (a *Agent) control(ctx context.Context, c ctlCall) {
	r := a.findRole(c.req.Role)
	var ctrl role.Controller
	switch {
	case r == nil:
		c.reply <- a.noRole(c.req.Role)
		return
	case r.inst == nil:
		c.reply <- fmt.Errorf("the %s role is not running: %s", r.kind.Name(), r.err)
		return
	default:
		var ok bool
		if ctrl, ok = r.inst.(role.Controller); !ok {
			c.reply <- fmt.Errorf("the %s role takes no requests", r.kind.Name())
			return
		}
	}
	rctx, cancel := context.WithTimeout(ctx, controlTimeout)
	done := r.done
	go func() {
		defer cancel()
		go func() {
			select {
			case <-done:
				cancel()
			case <-rctx.Done():
			}
		}()
		err := ctrl.HandleRequest(rctx, c.req)
		if err != nil && rctx.Err() != nil {
			select {
			case <-done:
				err = fmt.Errorf("the %s role stopped before it answered", c.req.Role)
			default:
				err = fmt.Errorf("the %s role did not answer within %s", c.req.Role, controlTimeout)
			}
		}
		c.reply <- err
	}()
}

// noRole says why a request names a role this node does not run.
func (a *Agent) noRole(name string) error {
	sec := spec.SectionOf(name)
	switch {
	case sec == nil:
		var names []string
		for _, s := range spec.Sections {
			names = append(names, s.Role)
		}
		return fmt.Errorf("there is no %q role (roles: %v)", name, names)
	case a.current != nil && a.current.Has(name):
		return fmt.Errorf("this agent (%s) has no %s role", a.cfg.Version, name)
	case a.current != nil:
		return fmt.Errorf("node %s has no %s role: its spec has no %s blocks for it", a.current.Node, name, sec.Blocks)
	}
	return fmt.Errorf("the agent runs no spec yet")
}

// SendControl sends a request to a running agent (hactl-agent ctl).
func SendControl(path string, req role.Request) error {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return fmt.Errorf("the agent is not running (%w)", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(controlTimeout + 5*time.Second))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return err
	}
	var reply ControlReply
	if err := json.NewDecoder(conn).Decode(&reply); err != nil {
		return fmt.Errorf("reading the agent's answer: %w", err)
	}
	if !reply.OK {
		return errors.New(reply.Error)
	}
	return nil
}

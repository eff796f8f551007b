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

	"github.com/hactl/hactl/agentbin/heartbeat"
)

type ctlCall struct {
	req   heartbeat.Request
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
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var req heartbeat.Request
	reply := ControlReply{OK: true}
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req); err != nil {
		reply = ControlReply{Error: "bad request: " + err.Error()}
	} else {
		call := ctlCall{req: req, reply: make(chan error, 1)}
		select {
		case a.ctl <- call:
			if err := <-call.reply; err != nil {
				reply = ControlReply{Error: err.Error()}
			}
		case <-ctx.Done():
			reply = ControlReply{Error: "the agent is stopping"}
		}
	}
	_ = json.NewEncoder(conn).Encode(reply)
}

// SendControl sends a request to a running agent (hactl-agent ctl).
func SendControl(path string, req heartbeat.Request) error {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return fmt.Errorf("the agent is not running (%w)", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
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

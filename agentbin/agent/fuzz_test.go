package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/heartbeat"
	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// parsingKind is a role whose requests are read by the heartbeat role's
// parser (the one role that takes requests) and recorded. It runs as the
// proxy section, which needs no devices or keys.
type parsingKind struct {
	mu   sync.Mutex
	last *role.Request
}

func (k *parsingKind) Name() string { return "proxy" }

func (k *parsingKind) New(*spec.Spec, role.Env) (role.Role, error) { return k, nil }

func (k *parsingKind) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (k *parsingKind) Report(*status.Status) {}

func (k *parsingKind) HandleRequest(_ context.Context, req role.Request) error {
	k.mu.Lock()
	k.last = &req
	k.mu.Unlock()
	_, err := heartbeat.ParseRequest(req.Op, req.Args)
	return err
}

// take returns the request the role got since the last call, if any.
func (k *parsingKind) take() *role.Request {
	k.mu.Lock()
	defer k.mu.Unlock()
	r := k.last
	k.last = nil
	return r
}

// requestWords is r as the words ParseRequest reads.
func requestWords(r heartbeat.Request) []string {
	switch r.Op {
	case "maintenance":
		if r.On {
			return []string{"on"}
		}
		return []string{"off"}
	case "unmove":
		return []string{r.Group}
	case "move":
		w := []string{r.Group}
		if r.To != "" {
			w = append(w, r.To)
		}
		if r.For > 0 {
			w = append(w, "for="+r.For.String())
		}
		return w
	}
	return nil
}

// FuzzControlRequest writes anything to a running agent's control socket,
// as any local root process may. The properties: every request gets one
// JSON answer, at once; a request that is not one JSON object is answered
// "bad request"; one that is reaches its role exactly as sent (and no
// other role's request does), and the answer says whether the role took
// it; and a request the parser takes, written back as words, parses the
// same.
func FuzzControlRequest(f *testing.F) {
	for _, seed := range []string{
		`{"role":"proxy","op":"standby"}`,
		`{"role":"proxy","op":"move","args":["web","c2g","for=30m"]}`,
		`{"role":"proxy","op":"move","args":["web","for=2h"]}`,
		`{"role":"proxy","op":"maintenance","args":["on"]}`,
		`{"role":"proxy","op":"unmove","args":["web"]}`,
		`{"role":"proxy","op":"move","args":["web","for=-1s"]}`,
		`{"role":"heartbeat","op":"standby"}`,
		`{"role":"nosuch","op":"x","args":null}`,
		`{"role":"proxy","op":"online"} {"role":"proxy","op":"standby"}`,
		`{"role":"proxy","op":"move","args":["web",1]}`,
		`[]`,
		`{"role":`,
		"\xff\xfe",
		"",
	} {
		f.Add([]byte(seed))
	}
	kind := &parsingKind{}
	a, specPath, statusPath := startAgent(f, kind)
	s := baseSpec()
	s.Proxies = []spec.Proxy{{Name: "p1"}}
	h := writeSpec(f, specPath, s)
	waitStatus(f, statusPath, "the proxy role running", func(st *status.Status) bool { return st.SpecHash == h && st.Healthy })

	f.Fuzz(func(t *testing.T, data []byte) {
		conn, err := net.DialTimeout("unix", a.cfg.ControlPath, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Longer than this is a hung agent: a request is answered at once.
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(data); err != nil {
			t.Fatalf("write: %v", err)
		}
		_ = conn.(*net.UnixConn).CloseWrite()
		answer, err := io.ReadAll(conn)
		if err != nil {
			t.Fatalf("reading the answer: %v (got %q)", err, answer)
		}
		var reply ControlReply
		dec := json.NewDecoder(bytes.NewReader(answer))
		if err := dec.Decode(&reply); err != nil || dec.More() || reply.OK == (reply.Error != "") {
			t.Fatalf("answer %q is not one ControlReply", answer)
		}
		got := kind.take()

		var req role.Request
		if err := json.NewDecoder(bytes.NewReader(data)).Decode(&req); err != nil {
			if reply.OK || !strings.HasPrefix(reply.Error, "bad request: ") || got != nil {
				t.Fatalf("undecodable request answered %+v, role got %+v", reply, got)
			}
			return
		}
		if req.Role != "proxy" {
			if reply.OK || got != nil {
				t.Fatalf("a request for role %q answered %+v, and the proxy role got %+v", req.Role, reply, got)
			}
			return
		}
		if got == nil || !reflect.DeepEqual(*got, req) {
			t.Fatalf("the role got %+v, want %+v", got, req)
		}
		parsed, err := heartbeat.ParseRequest(req.Op, req.Args)
		if reply.OK != (err == nil) {
			t.Fatalf("answer %+v, but the parser says %v", reply, err)
		}
		if err != nil {
			return
		}
		again, err := heartbeat.ParseRequest(parsed.Op, requestWords(parsed))
		if err != nil || again != parsed {
			t.Fatalf("%+v written as %q parses as %+v, %v", parsed, requestWords(parsed), again, err)
		}
	})
}

package fence

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hactl/hactl/agentbin/spec"
)

const labToken = "lab-t0ken-42"

// labSwitch serves LabPDUHandler, recording the nodes it kills; kill
// fails with failWith when that is set.
func labSwitch(t *testing.T, failWith error) (addr string, killed func() []string) {
	t.Helper()
	var mu sync.Mutex
	var nodes []string
	srv := httptest.NewServer(LabPDUHandler(labToken, func(_ context.Context, node string) error {
		mu.Lock()
		defer mu.Unlock()
		nodes = append(nodes, node)
		return failWith
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(nodes)
	}
}

func TestLabFencing(t *testing.T) {
	for _, tc := range []struct {
		name, action, token string
		killErr             error
		killed              []string
		want                []string // in the error; none means fenced
	}{
		{name: "off", action: "off", token: labToken, killed: []string{"h2g"}},
		{name: "reboot", action: "reboot", token: labToken, killed: []string{"h2g"}},
		{name: "wrong token", action: "off", token: "not-the-lab's",
			want: []string{"fencing h2g with lab PDU: asking the lab power switch: POST /off/h2g: HTTP 401 Unauthorized", "that the token in"}},
		{name: "the kill fails", action: "off", token: labToken, killErr: errors.New("no such lab node"), killed: []string{"h2g"},
			want: []string{"HTTP 500", "killing h2g: no such lab node"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, killed := labSwitch(t, tc.killErr)
			pdu := writeFile(t, "pdu", "# written by hactl lab\naddress="+addr+"\ntoken="+tc.token+"\n", 0o600)
			logs, err := fenceWith(t, spec.Fence{Type: "lab", Action: tc.action}, Options{LabPDUFile: pdu}, "h2g")
			mustNotLeak(t, tc.token, err, logs)
			wantOutcome(t, err, tc.want)
			if got := killed(); !slices.Equal(got, tc.killed) {
				t.Errorf("killed %q, want %q", got, tc.killed)
			}
		})
	}
}

func TestLabFencingNeedsTheAnswerOff(t *testing.T) {
	// A switch that is not the lab's: it says 200 but not "off".
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("queued"))
	}))
	defer srv.Close()
	pdu := writeFile(t, "pdu", "address="+srv.Listener.Addr().String()+"\ntoken="+labToken+"\n", 0o600)
	_, err := fenceWith(t, spec.Fence{Type: "lab"}, Options{LabPDUFile: pdu}, "h2g")
	wantOutcome(t, err, []string{`HTTP 200 OK: queued: the answer is not "off"`})
}

func TestLabPDUFileProblems(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"no file", "", "no such file or directory"},
		{"no address", "token=x\n", "has no address=IP:PORT line"},
		{"no token", "address=10.99.0.1:7070\n", "has no token= line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pdu := "/nonexistent/pdu"
			if tc.content != "" {
				pdu = writeFile(t, "pdu", tc.content, 0o600)
			}
			_, err := fenceWith(t, spec.Fence{Type: "lab"}, Options{LabPDUFile: pdu}, "h2g")
			wantOutcome(t, err, []string{"reading the lab power switch's settings", tc.want, "a node of `hactl lab`"})
		})
	}
}

func TestLabPDUHandlerRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, token, method, path, auth string
		code                            int
	}{
		{"no token", labToken, http.MethodPost, "/off/h2g", "", http.StatusUnauthorized},
		{"wrong token", labToken, http.MethodPost, "/off/h2g", "Bearer nope", http.StatusUnauthorized},
		{"not a bearer token", labToken, http.MethodPost, "/off/h2g", labToken, http.StatusUnauthorized},
		{"a switch without a token", "", http.MethodPost, "/off/h2g", "Bearer ", http.StatusUnauthorized},
		{"GET", labToken, http.MethodGet, "/off/h2g", "Bearer " + labToken, http.StatusMethodNotAllowed},
		{"unknown action", labToken, http.MethodPost, "/on/h2g", "Bearer " + labToken, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := LabPDUHandler(tc.token, func(context.Context, string) error {
				t.Fatal("killed")
				return nil
			})
			r := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.code {
				t.Fatalf("HTTP %d, want %d: %s", w.Code, tc.code, strings.TrimSpace(w.Body.String()))
			}
		})
	}
}

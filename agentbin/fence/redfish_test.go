package fence

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hactl/hactl/agentbin/spec"
)

// fakeBMC emulates the part of a Redfish BMC that fencing uses, since no
// BMC exists here: the systems collection, each system's PowerState and
// its ComputerSystem.Reset action, behind basic auth. ForceOff shows as
// PoweringOff for one read, then Off — unless stuck, where the power
// never goes off. Like a careless BMC, it echoes a refused password.
type fakeBMC struct {
	user, password string
	stuck          bool

	mu      sync.Mutex
	systems map[string]*fakeSystem // by Id
	resets  []string               // "Id ResetType"
}

type fakeSystem struct {
	hostName, power string
}

func (b *fakeBMC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, password, _ := r.BasicAuth()
	if user != b.user || password != b.password {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":{"message":"bad credentials for %s:%s"}}`, user, password)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	const prefix = "/redfish/v1/Systems"
	id, action, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, prefix), "/"), "/")
	sys := b.systems[id]
	switch {
	case r.Method == http.MethodGet && r.URL.Path == prefix:
		var members []map[string]string
		for _, id := range slices.Sorted(maps.Keys(b.systems)) {
			members = append(members, map[string]string{"@odata.id": prefix + "/" + id})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Members": members})
	case r.Method == http.MethodGet && sys != nil && action == "":
		power := sys.power
		if power == "PoweringOff" {
			sys.power = "Off"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"Id": id, "Name": "System " + id, "HostName": sys.hostName, "PowerState": power,
			"Actions": map[string]any{"#ComputerSystem.Reset": map[string]string{"target": prefix + "/" + id + "/Actions/ComputerSystem.Reset"}},
		})
	case r.Method == http.MethodPost && sys != nil && action == "Actions/ComputerSystem.Reset":
		var body struct{ ResetType string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		b.resets = append(b.resets, id+" "+body.ResetType)
		if body.ResetType == "ForceOff" && !b.stuck {
			sys.power = "PoweringOff"
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

func TestRedfish(t *testing.T) {
	const password = "r3dfish-pw"
	on := func(host string) *fakeSystem { return &fakeSystem{hostName: host, power: "On"} }
	for _, tc := range []struct {
		name, action, password string
		systems                map[string]*fakeSystem
		stuck                  bool
		resets                 []string
		want                   []string // in the error; none means fenced
	}{
		{name: "off waits for PowerState Off", action: "off", password: password,
			systems: map[string]*fakeSystem{"1": on("h2g")}, resets: []string{"1 ForceOff"}},
		{name: "reboot is a forced restart", action: "reboot", password: password,
			systems: map[string]*fakeSystem{"1": on("h2g")}, resets: []string{"1 ForceRestart"}},
		{name: "a system already off is fenced", action: "off", password: password,
			systems: map[string]*fakeSystem{"1": {hostName: "h2g", power: "Off"}}},
		{name: "the node's system among several", action: "off", password: password,
			systems: map[string]*fakeSystem{"Node1": on("c2g.example.com"), "Node2": on("h2g.example.com")}, resets: []string{"Node2 ForceOff"}},
		{name: "no system is the node's", action: "off", password: password,
			systems: map[string]*fakeSystem{"Node1": on("a"), "Node2": on("b")},
			want:    []string{"finding the node's system", `the BMC has 2 systems (Node1, Node2) and none has the Id, Name or HostName "h2g"`}},
		{name: "wrong password", action: "off", password: "not-" + password,
			systems: map[string]*fakeSystem{"1": on("h2g")},
			want:    []string{"GET /redfish/v1/Systems: HTTP 401 Unauthorized", "check the BMC user and password file: the BMC refused them"}},
		{name: "a BMC that never powers off", action: "off", password: password, stuck: true,
			systems: map[string]*fakeSystem{"1": on("h2g")}, resets: []string{"1 ForceOff"},
			want: []string{"waiting for PowerState Off", "still not off when the fence timeout of 700ms ran out", `PowerState is "On"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bmc := &fakeBMC{user: "admin", password: password, systems: tc.systems, stuck: tc.stuck}
			srv := httptest.NewTLSServer(bmc)
			defer srv.Close()
			pwfile := writeFile(t, "bmc-password", tc.password+"\n", 0o600)
			f := spec.Fence{Type: "redfish", Address: strings.TrimPrefix(srv.URL, "https://"), User: "admin", PasswordPath: pwfile, Action: tc.action, TimeoutMS: 5000}
			if tc.stuck {
				f.TimeoutMS = 700
			}
			logs, err := fenceWith(t, f, Options{HTTPClient: srv.Client()}, "h2g")
			mustNotLeak(t, tc.password, err, logs)
			wantOutcome(t, err, tc.want)
			bmc.mu.Lock()
			defer bmc.mu.Unlock()
			if !slices.Equal(bmc.resets, tc.resets) {
				t.Errorf("resets %q, want %q", bmc.resets, tc.resets)
			}
		})
	}
}

func TestRedfishVerifiesTLSUnlessTold(t *testing.T) {
	bmc := &fakeBMC{user: "admin", password: "pw", systems: map[string]*fakeSystem{"1": {power: "On"}}}
	srv := httptest.NewUnstartedServer(bmc)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	f := spec.Fence{Type: "redfish", Address: srv.URL, User: "admin", PasswordPath: writeFile(t, "pw", "pw", 0o600), TimeoutMS: 5000}

	_, err := fenceWith(t, f, Options{}, "h2g")
	wantOutcome(t, err, []string{"certificate signed by unknown authority", "its certificate (a self-signed one needs the agent's insecure TLS option)"})
	if len(bmc.resets) != 0 {
		t.Fatalf("reset through an unverified connection: %q", bmc.resets)
	}

	_, err = fenceWith(t, f, Options{InsecureTLS: true}, "h2g")
	wantOutcome(t, err, nil)
}

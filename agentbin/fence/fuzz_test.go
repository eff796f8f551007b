package fence

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hactl/hactl/agentbin/spec"
)

// FuzzIPMIPowerStatus feeds powerIsOff what a BMC, or a broken ipmitool,
// may print. The property: "off" only when the answer says off and does
// not also say on, since a node taken for off is taken over.
func FuzzIPMIPowerStatus(f *testing.F) {
	for _, seed := range []string{
		"Chassis Power is off\n",
		"Chassis Power is on\n",
		"Chassis Power is off",
		"chassis power is OFF\r\n",
		"Warning: cipher suite 17 not supported\nChassis Power is off\n",
		"Chassis Power is on\nChassis Power is off\n",
		"Chassis Power is offline\n",
		"Error: Unable to establish IPMI v2 / RMCP+ session\n",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, out string) {
		off, err := powerIsOff(out)
		says := map[string]bool{}
		for line := range strings.Lines(out) {
			says[strings.ToLower(strings.TrimSpace(line))] = true
		}
		switch {
		case err == nil && off && (!says["chassis power is off"] || says["chassis power is on"]):
			t.Fatalf("%q read as off", out)
		case err == nil && !off && (!says["chassis power is on"] || says["chassis power is off"]):
			t.Fatalf("%q read as on", out)
		case err != nil && says["chassis power is off"] != says["chassis power is on"]:
			t.Fatalf("%q refused: %v", out, err)
		}
	})
}

// fuzzBMC answers redfish fencing's requests with the fuzzer's bodies, in
// memory: the systems collection, then each system; after a reset, every
// system is Off. It records every request.
type fuzzBMC struct {
	systems, system []byte

	mu       sync.Mutex
	requests []*http.Request
	resets   []string // bodies posted
}

func (b *fuzzBMC) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requests = append(b.requests, r)
	answer := func(code int, body []byte) (*http.Response, error) {
		return &http.Response{StatusCode: code, Body: io.NopCloser(bytes.NewReader(body)), Header: http.Header{}, Request: r}, nil
	}
	switch {
	case r.Method == http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		b.resets = append(b.resets, string(body))
		return answer(http.StatusNoContent, nil)
	case r.URL.Path == "/redfish/v1/Systems":
		return answer(http.StatusOK, b.systems)
	case len(b.resets) > 0:
		return answer(http.StatusOK, []byte(`{"PowerState":"Off"}`))
	}
	return answer(http.StatusOK, b.system)
}

// FuzzRedfishAnswers lets the BMC answer fencing with anything. The
// properties: every request, and so the password, goes to the configured
// BMC over HTTPS whatever paths the answers name; a reset posts ForceOff
// and nothing else; and fencing succeeds only when the system was found
// Off or was reset.
func FuzzRedfishAnswers(f *testing.F) {
	members := func(ids ...string) string {
		var m []string
		for _, id := range ids {
			m = append(m, `{"@odata.id":"`+id+`"}`)
		}
		return `{"@odata.context":"/redfish/v1/$metadata#ComputerSystemCollection.ComputerSystemCollection","Members@odata.count":` +
			string(rune('0'+len(ids))) + `,"Members":[` + strings.Join(m, ",") + `]}`
	}
	system := `{"@odata.id":"/redfish/v1/Systems/1","Id":"1","Name":"web-1","HostName":"web-1.example.net","PowerState":"On",` +
		`"Actions":{"#ComputerSystem.Reset":{"target":"/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",` +
		`"ResetType@Redfish.AllowableValues":["On","ForceOff","GracefulShutdown","ForceRestart"]}}}`
	for _, seed := range []struct{ systems, system, node string }{
		{members("/redfish/v1/Systems/1"), system, "web-1"},
		{members("/redfish/v1/Systems/1"), strings.Replace(system, `"On"`, `"Off"`, 1), "web-1"},
		{members("/redfish/v1/Systems/1", "/redfish/v1/Systems/2"), system, "db-1"},
		{members("https://attacker.example/steal"), strings.Replace(system, "/redfish/v1/Systems/1/Actions", "//attacker.example:8443/x", 1), "web-1"},
		{members("/redfish/v1/Systems/System.Embedded.1"), `{"Id":"System.Embedded.1","PowerState":"PoweringOn","Actions":{}}`, "web-1"},
		{`{"Members":[]}`, system, "web-1"},
		{`{"Members":null}`, `null`, "web-1"},
		{`<html>502 Bad Gateway</html>`, system, "web-1"},
		{members("/redfish/v1/Systems/%zz"), system, "web-1"},
	} {
		f.Add([]byte(seed.systems), []byte(seed.system), seed.node)
	}
	password := filepath.Join(f.TempDir(), "bmc-password")
	if err := os.WriteFile(password, []byte("pa55\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, systems, system []byte, node string) {
		bmc := &fuzzBMC{systems: systems, system: system}
		fc, err := New(spec.Fence{Type: "redfish", Address: "bmc.example.net:8443", User: "admin", PasswordPath: password, TimeoutMS: 2000},
			Options{HTTPClient: &http.Client{Transport: bmc}})
		if err != nil {
			t.Fatal(err)
		}
		err = fc.Fence(context.Background(), node)
		for _, r := range bmc.requests {
			if r.URL.Scheme != "https" || r.URL.Host != "bmc.example.net:8443" {
				t.Fatalf("a request went to %s", r.URL)
			}
		}
		for _, body := range bmc.resets {
			if body != `{"ResetType":"ForceOff"}` {
				t.Fatalf("posted %s", body)
			}
		}
		if err == nil && len(bmc.resets) == 0 {
			var s struct{ PowerState string }
			if json.Unmarshal(system, &s) != nil || s.PowerState != "Off" {
				t.Fatalf("fenced without a reset, though the system said %s", system)
			}
		}
	})
}

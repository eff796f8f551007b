package spec

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRefusesWhatTheAgentCannotRun(t *testing.T) {
	tests := []struct {
		name, json, wantErr string
	}{
		{"valid minimal", `{"format_version":1,"cluster":"c","node":"n"}`, ""},
		{"newer format", `{"format_version":2,"cluster":"c","node":"n"}`, "format_version 2"},
		{"unknown field from a newer hactl", `{"format_version":1,"cluster":"c","node":"n","roles":[]}`, "unknown field"},
		{"not json", `format_version = 1`, "decoding spec"},
		{"no node", `{"format_version":1,"cluster":"c"}`, "node must be set"},
		{"bad vip", `{"format_version":1,"cluster":"c","node":"n","groups":[{"name":"g","locations":[],"failback":true,"failback_delay_ms":0,"resources":[{"kind":"vip","name":"v","address":"1.2.3","monitor_interval_ms":1,"monitor_timeout_ms":1,"on_fail":"move","max_restarts":0}]}]}`, "vip \"v\""},
		{"secret with relative path", `{"format_version":1,"cluster":"c","node":"n","secrets":[{"name":"k","path":"k","digest":"0000000000000000000000000000000000000000000000000000000000000000"}]}`, "secret \"k\""},
		{"secret outside the secrets folder", `{"format_version":1,"cluster":"c","node":"n","secrets":[{"name":"k","path":"/etc/hactl/secrets/../../cron.d/x","digest":"0000000000000000000000000000000000000000000000000000000000000000"}]}`, "secret \"k\""},
		{"secret in a sub-folder", `{"format_version":1,"cluster":"c","node":"n","secrets":[{"name":"k","path":"/etc/hactl/secrets/a/b","digest":"0000000000000000000000000000000000000000000000000000000000000000"}]}`, "secret \"k\""},
		{"secret with a short digest", `{"format_version":1,"cluster":"c","node":"n","secrets":[{"name":"k","path":"/etc/hactl/secrets/k","digest":"00"}]}`, "secret \"k\""},
		{"secret in the secrets folder", `{"format_version":1,"cluster":"c","node":"n","secrets":[{"name":"k","path":"/etc/hactl/secrets/k","digest":"0000000000000000000000000000000000000000000000000000000000000000"}]}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Parse error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestHashIsTheDigestOfTheCanonicalJSON(t *testing.T) {
	s := &Spec{FormatVersion: FormatVersion, Cluster: "c", Node: "n", Groups: []Group{{Name: "g", Resources: []Resource{{Kind: "ocf", Params: map[string]string{"b": "2", "a": "1"}}}}}}
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Hash()
	if err != nil {
		t.Fatal(err)
	}
	if h != HashBytes(data) || len(h) != 64 {
		t.Fatalf("Hash %s is not the digest of Marshal's output", h)
	}
	if !strings.Contains(string(data), `"a": "1",`+"\n") {
		t.Errorf("map keys not sorted in canonical JSON:\n%s", data)
	}
	again, _ := s.Hash()
	if again != h {
		t.Errorf("Hash not stable: %s then %s", h, again)
	}
}

// everyPart is a valid spec with one of every element that holds a
// duration.
func everyPart() *Spec {
	hc := &HealthCheck{Type: "tcp", IntervalMS: 1000, TimeoutMS: 500}
	return &Spec{FormatVersion: FormatVersion, Cluster: "c", Node: "n",
		Heartbeat: &Heartbeat{IntervalMS: 20, WarntimeMS: 60, DeadtimeMS: 100, InitdeadMS: 1000, Port: 694, KeyPath: "/k",
			Links: []Link{{Name: "lan"}}, Peers: []Peer{{Name: "p", Fences: []Fence{{Type: "lab", TimeoutMS: 1000}}}}},
		Groups: []Group{{Name: "g", FailbackDelayMS: 1000, Resources: []Resource{{Kind: "vip", Name: "v", Address: "10.0.0.1/24",
			MonitorIntervalMS: 1000, MonitorTimeoutMS: 1000, GARPRefreshMS: 1000}}}},
		VirtualServices: []VirtualService{{Name: "vs", PersistenceMS: 1000, HealthCheck: hc}},
		Proxies:         []Proxy{{Name: "px", ClientTimeoutMS: 1000, BackendTimeoutMS: 1000, Services: []ProxyService{{Name: "s", SessionTTLMS: 1000, HealthCheck: hc}}}},
		Syncs:           []Sync{{Name: "sy", Path: "/srv/", IntervalMS: 1000, DelayMS: 200}},
		Monitor: &Monitor{Listen: "10.0.0.1:9694", IntervalMS: 1000, RetentionMS: 1000, Devices: []SNMPDevice{{Name: "d", IntervalMS: 1000}},
			Thresholds: []Threshold{{Name: "load", Metric: "node_load1", Above: new(1.5), ForMS: 1000}}},
		Notifies: []Notify{{Name: "n", TimeoutMS: 1000}},
	}
}

// msFields calls fn with every *_ms field reachable from v.
func msFields(v reflect.Value, fn func(name string, f reflect.Value)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			msFields(v.Elem(), fn)
		}
	case reflect.Slice:
		for i := range v.Len() {
			msFields(v.Index(i), fn)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			if strings.HasSuffix(name, "_ms") && v.Field(i).CanInt() {
				fn(name, v.Field(i))
				continue
			}
			msFields(v.Field(i), fn)
		}
	}
}

// The defect: a spec with an absurd interval made the agent panic (a
// ticker of a negative period after an overflow). Every duration is
// bounded, and this test fails when a new *_ms field is not.
func TestEveryDurationIsBounded(t *testing.T) {
	s := everyPart()
	if err := s.Validate(); err != nil {
		t.Fatalf("the reference spec is refused: %v", err)
	}
	count := 0
	msFields(reflect.ValueOf(s), func(name string, f reflect.Value) {
		count++
		old := f.Int()
		for _, v := range []int64{-1, 1 << 62} {
			f.SetInt(v)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "must be between") {
				t.Errorf("%s = %d: Validate said %v; want a refusal naming %s and its bounds", name, v, err, name)
			}
		}
		f.SetInt(old)
	})
	if count < 20 {
		t.Errorf("found %d duration fields; the reference spec should hold every one", count)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("after restoring: %v", err)
	}
}

func TestAbsurdHeartbeatIntervalIsRefusedWithBounds(t *testing.T) {
	_, err := Parse([]byte(`{"format_version":1,"cluster":"c","node":"n","heartbeat":{"interval_ms":9000000000000000000,"warntime_ms":0,"deadtime_ms":100,"initdead_ms":0,"port":694,"key_path":"/k","links":[{"name":"l","interface":"e","local":"1.2.3.4","mode":"unicast"}],"peers":[],"members":["n"]}}`))
	if err == nil || !strings.Contains(err.Error(), "heartbeat: interval_ms is 9000000000000000000ms: it must be between 1ms and 1m") {
		t.Errorf("Parse: %v", err)
	}
}

func TestSecretPathIsAlwaysDirectlyInTheSecretsFolder(t *testing.T) {
	tests := []struct {
		name, want string
	}{
		{"cluster-key", "/etc/hactl/secrets/cluster-key"},
		{"snmp-sw1.lan-community", "/etc/hactl/secrets/snmp-sw1.lan-community"},
		{"../x", ""},
		{"/../../../../etc/cron.d/x", ""},
		{"snmp-/../../../../etc/cron.d/x-community", ""},
		{"a/b", ""},
		{"..", ""},
		{".", ""},
		{"", ""},
		{"-rf", ""},
		{"a\x00b", ""},
		{"a\nb", ""},
		{`a\b`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SecretPath(tt.name)
			if got != tt.want || (err == nil) != (tt.want != "") {
				t.Errorf("SecretPath(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
			if tt.want != "" && !InSecretsDir(got) {
				t.Errorf("InSecretsDir(%q) = false", got)
			}
		})
	}
}

// The digest of a secret depends on the key: without the cluster key a
// guess of the secret cannot be checked against it.
func TestSecretDigestIsKeyed(t *testing.T) {
	sum := HashBytes([]byte("public"))
	a, b := SecretDigest(DigestKey([]byte("key one")), sum), SecretDigest(DigestKey([]byte("key two")), sum)
	if a == b || a == sum || len(a) != 64 {
		t.Errorf("digests %s and %s of %s", a, b, sum)
	}
	if a != SecretDigest(DigestKey([]byte("key one")), sum) {
		t.Error("the digest is not a function of key and content")
	}
}

func TestSyncValuesThatWouldEscapeTheirLinesAreRefused(t *testing.T) {
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv3kZvmEvSuZ91Pt1dYO"
	tests := []struct {
		name   string
		edit   func(s *Spec)
		refuse string
	}{
		{"sound", func(*Spec) {}, ""},
		{"relative path", func(s *Spec) { s.Syncs[0].Path = "srv/" }, "must be absolute"},
		{"quote in a target path ends the forced command", func(s *Spec) { s.SyncReceives[0].Path = `/srv" ,no-restrict` }, "target path"},
		{"newline in a public key adds an authorized_keys line", func(s *Spec) { s.SyncReceives[0].PublicKeys = []string{key + "\nssh-rsa AAAA"} }, "public key"},
		{"options before a public key", func(s *Spec) { s.SyncReceives[0].PublicKeys = []string{`command="sh" ` + key} }, "public key"},
		{"newline in a host key adds a known_hosts line", func(s *Spec) { s.Syncs[0].Targets[0].HostKeys = []string{key + "\n* " + key} }, "host key"},
		{"address with a pattern", func(s *Spec) { s.Syncs[0].Targets[0].Address = "a,*" }, "address"},
		{"key outside the secrets", func(s *Spec) { s.Syncs[0].KeyPath = "/tmp/k" }, "key_path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Spec{FormatVersion: FormatVersion, Cluster: "c", Node: "f400",
				Syncs:        []Sync{{Name: "d", Path: "/srv/", IntervalMS: 1000, Targets: []SyncTarget{{Node: "dgx", Address: "192.168.0.27", Path: "/srv/", HostKeys: []string{key}}}}},
				SyncReceives: []SyncReceive{{Name: "e", Source: "dgx", Path: "/srv/", PublicKeys: []string{key}}}}
			tt.edit(s)
			err := s.Validate()
			switch {
			case tt.refuse == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.refuse != "" && (err == nil || !strings.Contains(err.Error(), tt.refuse)):
				t.Errorf("got %v, want a refusal naming %q", err, tt.refuse)
			}
		})
	}
}

package spec

import (
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
		{"secret with relative path", `{"format_version":1,"cluster":"c","node":"n","secrets":[{"name":"k","path":"k","sha256":"00"}]}`, "secret \"k\""},
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

package deploy

import (
	"reflect"
	"testing"
	"time"

	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/remote"
)

// TestTargetOfCarriesEverySSHSetting fails when topology.SSH gains a field
// that the conversion into remote.SSH forgets: every field is set to a
// distinct non-zero value and must come out under the same name.
func TestTargetOfCarriesEverySSHSetting(t *testing.T) {
	n := &topology.Node{Name: "h2g", Address: "192.168.0.31"}
	in := reflect.ValueOf(&n.SSH).Elem()
	for i := range in.NumField() {
		f := in.Field(i)
		if f.Type() == reflect.TypeFor[topology.SSHDefaulted]() {
			continue // nothing defaulted: every value was written
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString("v" + in.Type().Field(i).Name)
		case reflect.Int:
			f.SetInt(int64(2200 + i))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"admin@bastion:22", "jump"}))
		case reflect.Int64: // time.Duration
			f.SetInt(int64(time.Duration(i+1) * time.Second))
		default:
			t.Fatalf("topology.SSH.%s has kind %s, which this test does not fill in", in.Type().Field(i).Name, f.Kind())
		}
	}
	got := targetOf(n)
	if got.Name != n.Name || got.Address != n.Address {
		t.Errorf("target %q at %q, want %q at %q", got.Name, got.Address, n.Name, n.Address)
	}
	out := reflect.ValueOf(got.SSH)
	for i := range in.NumField() {
		name := in.Type().Field(i).Name
		if name == "Defaulted" {
			continue
		}
		o := out.FieldByName(name)
		if !o.IsValid() {
			t.Errorf("remote.SSH has no field %s: the setting never reaches the connection", name)
			continue
		}
		if !reflect.DeepEqual(o.Interface(), in.Field(i).Interface()) {
			t.Errorf("SSH.%s = %v, want %v", name, o.Interface(), in.Field(i).Interface())
		}
	}
	n.SSH.JumpHosts[0] = "changed"
	if got.SSH.JumpHosts[0] == "changed" {
		t.Error("the target shares the node's jump host list")
	}
}

// Settings that hold only the configuration's defaults are left for the
// operator's ssh_config to set first; the default user goes along as
// such.
func TestTargetOfLeavesDefaultsToSSHConfig(t *testing.T) {
	base := topology.SSH{User: "root", Port: 22, KnownHostsFile: "~/.ssh/known_hosts", IdentityFile: "id"}
	tests := []struct {
		name      string
		defaulted topology.SSHDefaulted
		want      remote.SSH
	}{
		{"all written", topology.SSHDefaulted{},
			remote.SSH{User: "root", Port: 22, KnownHostsFile: "~/.ssh/known_hosts", IdentityFile: "id"}},
		{"all defaulted", topology.SSHDefaulted{User: true, Port: true, KnownHostsFile: true},
			remote.SSH{DefaultUser: "root", IdentityFile: "id"}},
		{"port written", topology.SSHDefaulted{User: true, KnownHostsFile: true},
			remote.SSH{DefaultUser: "root", Port: 22, IdentityFile: "id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &topology.Node{Name: "h2g", Address: "h2g", SSH: base}
			n.SSH.Defaulted = tt.defaulted
			if got := targetOf(n).SSH; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SSH = %+v, want %+v", got, tt.want)
			}
		})
	}
}

package snmp

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/monitor/snmp/snmptest"
	"github.com/hactl/hactl/agentbin/spec"
)

// secrets writes the test's secret files into a directory of their own,
// under the base names the spec's paths have.
func secrets(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	communityPath = "/etc/hactl/secrets/snmp-d-community"
	authPath      = "/etc/hactl/secrets/snmp-d-auth"
	privPath      = "/etc/hactl/secrets/snmp-d-priv"
)

var allSecrets = map[string]string{
	"snmp-d-community": snmptest.Community,
	"snmp-d-auth":      snmptest.AuthPass,
	"snmp-d-priv":      snmptest.PrivPass,
}

// find is the value of the sample with this name and these extra labels.
func find(samples []metric.Sample, name string, labels ...metric.Label) (float64, bool) {
	want := metric.Sample{Name: name, Labels: append([]metric.Label{{Name: "device", Value: "d"}}, labels...)}.Series()
	for _, s := range samples {
		if s.Series() == want {
			return s.Value, true
		}
	}
	return math.NaN(), false
}

func TestPollRealSnmpd(t *testing.T) {
	port := snmptest.Start(t)
	dir := secrets(t, allSecrets)
	lo := metric.Label{Name: "interface", Value: "lo"}
	for _, c := range []struct {
		name string
		dev  spec.SNMPDevice
	}{
		{"v2c", spec.SNMPDevice{Version: "2c", CommunityPath: communityPath}},
		{"v3 authPriv SHA256 AES", spec.SNMPDevice{Version: "3", User: snmptest.PrivUser, SecurityLevel: "authPriv",
			AuthProtocol: "SHA256", AuthPasswordPath: authPath, PrivProtocol: "AES", PrivPasswordPath: privPath}},
		{"v3 authPriv by the HCL's defaults", spec.SNMPDevice{Version: "3", User: snmptest.PrivUser,
			AuthPasswordPath: authPath, PrivPasswordPath: privPath}},
		{"v3 authNoPriv SHA", spec.SNMPDevice{Version: "3", User: snmptest.AuthUser, SecurityLevel: "authNoPriv",
			AuthProtocol: "SHA", AuthPasswordPath: authPath}},
		{"v3 noAuthNoPriv", spec.SNMPDevice{Version: "3", User: snmptest.NoAuthUser, SecurityLevel: "noAuthNoPriv"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dev := c.dev
			dev.Name, dev.Address, dev.Port = "d", "127.0.0.1", port
			dev.Interfaces = []string{"lo"}
			dev.OIDs = []string{"1.3.6.1.2.1.1.3.0", ".1.3.6.1.2.1.2.2.1.10.1"}
			p, err := NewPoller(dev, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			first, err := p.Poll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []struct {
				name   string
				labels []metric.Label
				ok     func(float64) bool
			}{
				{"hactl_snmp_up", nil, func(v float64) bool { return v == 1 }},
				{"hactl_snmp_if_in_octets_total", []metric.Label{lo}, func(v float64) bool { return v > 0 }},
				{"hactl_snmp_if_out_octets_total", []metric.Label{lo}, func(v float64) bool { return v > 0 }},
				{"hactl_snmp_if_in_errors_total", []metric.Label{lo}, func(v float64) bool { return v >= 0 }},
				{"hactl_snmp_if_out_errors_total", []metric.Label{lo}, func(v float64) bool { return v >= 0 }},
				{"hactl_snmp_if_oper_up", []metric.Label{lo}, func(v float64) bool { return v == 1 }},
				{"hactl_snmp_load1", nil, func(v float64) bool { return v >= 0 }},
				{"hactl_snmp_memory_total_bytes", nil, func(v float64) bool { return v > 1<<20 }},
				{"hactl_snmp_memory_free_bytes", nil, func(v float64) bool { return v > 0 }},
				{"hactl_snmp_oid", []metric.Label{{Name: "oid", Value: "1.3.6.1.2.1.1.3.0"}}, func(v float64) bool { return v > 0 }},
				{"hactl_snmp_oid", []metric.Label{{Name: "oid", Value: "1.3.6.1.2.1.2.2.1.10.1"}}, func(v float64) bool { return v > 0 }},
			} {
				if v, found := find(first, want.name, want.labels...); !found || !want.ok(v) {
					t.Errorf("%s%v = %v (found %v)", want.name, want.labels, v, found)
				}
			}
			for _, s := range first {
				counter := strings.HasSuffix(s.Name, "_total") || s.Labels[len(s.Labels)-1].Value == "1.3.6.1.2.1.2.2.1.10.1"
				if counter != (s.Kind == metric.Counter) {
					t.Errorf("%s: kind %v", s.Series(), s.Kind)
				}
			}
			if c.dev.Version != "2c" {
				return
			}
			// The polls themselves are traffic on lo; snmpd caches its
			// interface table for a few seconds.
			before, _ := find(first, "hactl_snmp_if_in_octets_total", lo)
			deadline := time.Now().Add(30 * time.Second)
			for {
				next, err := p.Poll(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if after, _ := find(next, "hactl_snmp_if_in_octets_total", lo); after > before {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("lo's ifHCInOctets stayed at %v for 30 s of polls", before)
				}
				time.Sleep(time.Second)
			}
		})
	}
}

func TestPollProblems(t *testing.T) {
	port := snmptest.Start(t)
	dir := secrets(t, map[string]string{
		"snmp-d-community": "not-the-community",
		"snmp-d-auth":      "a-wrong-auth-passphrase",
		"snmp-d-priv":      snmptest.PrivPass,
	})
	poll := func(dev spec.SNMPDevice, timeout time.Duration) ([]metric.Sample, error) {
		t.Helper()
		dev.Name, dev.Address, dev.Port = "d", "127.0.0.1", port
		p, err := NewPoller(dev, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return p.Poll(ctx)
	}
	for _, c := range []struct {
		name string
		dev  spec.SNMPDevice
	}{
		{"wrong community", spec.SNMPDevice{Version: "2c", CommunityPath: communityPath}},
		{"wrong v3 passphrase", spec.SNMPDevice{Version: "3", User: snmptest.PrivUser, AuthPasswordPath: authPath, PrivPasswordPath: privPath}},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			samples, err := poll(c.dev, 3*time.Second)
			if err == nil {
				t.Fatal("no error")
			}
			if time.Since(start) > 8*time.Second {
				t.Errorf("a device that does not answer held the poll %v", time.Since(start))
			}
			if up, _ := find(samples, "hactl_snmp_up"); up != 0 || len(samples) != 1 {
				t.Errorf("samples %v, want only hactl_snmp_up 0", samples)
			}
			for _, secret := range []string{"not-the-community", "a-wrong-auth-passphrase", snmptest.PrivPass} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a secret: %v", err)
				}
			}
		})
	}

	// An interface the device does not have is named in the error; the
	// rest is polled.
	good := secrets(t, allSecrets)
	p, err := NewPoller(spec.SNMPDevice{Name: "d", Address: "127.0.0.1", Port: port, Version: "2c",
		CommunityPath: communityPath, Interfaces: []string{"lo", "ge-0/0/9"}, OIDs: []string{"1.3.6.1.2.1.1.99.0"}}, good)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	samples, err := p.Poll(context.Background())
	if err == nil || !strings.Contains(err.Error(), `no interface "ge-0/0/9"`) || !strings.Contains(err.Error(), "1.3.6.1.2.1.1.99.0") {
		t.Errorf("error %v, want the missing interface and OID named", err)
	}
	if v, ok := find(samples, "hactl_snmp_if_oper_up", metric.Label{Name: "interface", Value: "lo"}); v != 1 || !ok {
		t.Errorf("lo not polled beside the missing interface: %v", samples)
	}
	if up, _ := find(samples, "hactl_snmp_up"); up != 1 {
		t.Errorf("hactl_snmp_up %v for a device that answered", up)
	}

	// A table longer than the poller takes is refused, not walked on.
	p.maxRows = 5
	if _, err := p.walk("1.3.6.1.2.1.2.2.1"); err == nil || !strings.Contains(err.Error(), "more than 5 rows") {
		t.Errorf("walking a long table: %v", err)
	}
}

func TestNewPollerRefusesBadSpecs(t *testing.T) {
	dir := secrets(t, map[string]string{"snmp-d-community": "", "snmp-d-auth": "x"})
	for _, c := range []struct {
		name string
		dev  spec.SNMPDevice
		want string
	}{
		{"missing community file", spec.SNMPDevice{Version: "2c", CommunityPath: "/etc/hactl/secrets/nope"}, "reading the community"},
		{"empty community file", spec.SNMPDevice{Version: "2c", CommunityPath: communityPath}, "is empty"},
		{"no community path", spec.SNMPDevice{Version: "2c"}, "no community file"},
		{"unknown version", spec.SNMPDevice{Version: "1"}, `version "1"`},
		{"unknown level", spec.SNMPDevice{Version: "3", User: "u", SecurityLevel: "authOnly"}, "security level"},
		{"unknown auth protocol", spec.SNMPDevice{Version: "3", User: "u", SecurityLevel: "authNoPriv", AuthProtocol: "SHA1024", AuthPasswordPath: authPath}, "authentication protocol"},
		{"unknown priv protocol", spec.SNMPDevice{Version: "3", User: "u", AuthPasswordPath: authPath, PrivProtocol: "3DES", PrivPasswordPath: privPath}, "privacy protocol"},
		{"missing priv file", spec.SNMPDevice{Version: "3", User: "u", AuthPasswordPath: authPath, PrivPasswordPath: privPath}, "reading the privacy passphrase"},
		{"v3 without user", spec.SNMPDevice{Version: "3", SecurityLevel: "noAuthNoPriv"}, "needs a user"},
		{"port out of range", spec.SNMPDevice{Version: "2c", Port: 70000}, "out of range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.dev.Name, c.dev.Address = "d", "127.0.0.1"
			p, err := NewPoller(c.dev, dir)
			if err == nil {
				p.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "SNMP device d") {
				t.Errorf("error %q, want %q and the device named", err, c.want)
			}
		})
	}
}

func TestNumberChecksTypes(t *testing.T) {
	for _, c := range []struct {
		name  string
		pdu   gosnmp.SnmpPDU
		want  kind
		value float64
		err   string
	}{
		{"Counter64", gosnmp.SnmpPDU{Type: gosnmp.Counter64, Value: uint64(1) << 63}, counter, 1 << 63, ""},
		{"Counter32", gosnmp.SnmpPDU{Type: gosnmp.Counter32, Value: uint(42)}, counter, 42, ""},
		{"Gauge32 where a counter is due", gosnmp.SnmpPDU{Type: gosnmp.Gauge32, Value: uint(42)}, counter, 0, "not a counter"},
		{"string where a counter is due", gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: []byte("12")}, counter, 0, "not a counter"},
		{"Integer", gosnmp.SnmpPDU{Type: gosnmp.Integer, Value: -3}, text, -3, ""},
		{"TimeTicks", gosnmp.SnmpPDU{Type: gosnmp.TimeTicks, Value: uint32(100)}, text, 100, ""},
		{"UCD load string", gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: []byte("0.15 ")}, text, 0.15, ""},
		{"non-numeric string", gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: []byte("up")}, text, 0, "not a number"},
		{"NaN string", gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: []byte("NaN")}, text, 0, "not a number"},
		{"OID value", gosnmp.SnmpPDU{Type: gosnmp.ObjectIdentifier, Value: ".1.3"}, text, 0, "not a number"},
		{"IP address", gosnmp.SnmpPDU{Type: gosnmp.IPAddress, Value: "10.0.0.1"}, text, 0, "not a number"},
		{"typed Counter64 carrying a string", gosnmp.SnmpPDU{Type: gosnmp.Counter64, Value: "huge"}, counter, 0, "value is a string"},
		{"noSuchInstance", gosnmp.SnmpPDU{Type: gosnmp.NoSuchInstance}, counter, 0, "does not have it"},
		{"endOfMibView", gosnmp.SnmpPDU{Type: gosnmp.EndOfMibView}, text, 0, "does not have it"},
		{"float", gosnmp.SnmpPDU{Type: gosnmp.OpaqueFloat, Value: float32(1.5)}, text, 1.5, ""},
		{"numeric string where an integer is due", gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: []byte("12")}, integer, 0, "not a number"},
		{"Gauge32 integer", gosnmp.SnmpPDU{Type: gosnmp.Gauge32, Value: uint(7)}, integer, 7, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := number(c.pdu, c.want)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.value {
				t.Errorf("got %v, %v, want %v", got, err, c.value)
			}
		})
	}
}

func TestFindIndexPrefersLowestExactName(t *testing.T) {
	table := map[string]gosnmp.SnmpPDU{
		"7":   {Type: gosnmp.OctetString, Value: []byte("eth0")},
		"3":   {Type: gosnmp.OctetString, Value: []byte("eth0")},
		"2":   {Type: gosnmp.OctetString, Value: []byte("eth00")},
		"x.1": {Type: gosnmp.OctetString, Value: []byte("eth1")},
		"4":   {Type: gosnmp.Integer, Value: 5},
	}
	for _, c := range []struct {
		name string
		want int
		ok   bool
	}{{"eth0", 3, true}, {"eth00", 2, true}, {"eth1", -1, false}, {"eth9", -1, false}} {
		if got, ok := findIndex(table, c.name); got != c.want || ok != c.ok {
			t.Errorf("findIndex(%s) = %d, %v, want %d, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

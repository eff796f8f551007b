package snmp

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/spec"
)

// hostileAgent is a v2c agent on loopback that answers every request
// with what answer makes of it, as a broken or malicious device might.
func hostileAgent(t *testing.T, answer func(req *gosnmp.SnmpPacket) []gosnmp.SnmpPDU) int {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 65535)
		dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			req, err := dec.SnmpDecodePacket(buf[:n])
			if err != nil {
				continue
			}
			resp := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: req.Community, PDUType: gosnmp.GetResponse,
				RequestID: req.RequestID, Variables: answer(req)}
			if b, err := resp.MarshalMsg(); err == nil {
				conn.WriteTo(b, from)
			}
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).Port
}

func hostilePoller(t *testing.T, port int) *Poller {
	t.Helper()
	p, err := NewPoller(spec.SNMPDevice{Name: "d", Address: "127.0.0.1", Port: port, Version: "2c",
		CommunityPath: communityPath, Interfaces: []string{"eth0"}}, secrets(t, allSecrets))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// walkRow answers a bulk request under a table column with one row,
// eth0 at index 1, and then an OID past the column, which ends a walk.
func walkRow(req *gosnmp.SnmpPacket) []gosnmp.SnmpPDU {
	col := strings.TrimPrefix(req.Variables[0].Name, ".")
	if strings.Count(col, ".") > strings.Count(oidIfName, ".") {
		return []gosnmp.SnmpPDU{{Name: ".1.3.6.1.9.9", Type: gosnmp.Integer, Value: 0}}
	}
	return []gosnmp.SnmpPDU{{Name: "." + col + ".1", Type: gosnmp.OctetString, Value: []byte("eth0")}}
}

func TestWrongTypesAreErrorsNamingTheOID(t *testing.T) {
	port := hostileAgent(t, func(req *gosnmp.SnmpPacket) []gosnmp.SnmpPDU {
		if req.PDUType == gosnmp.GetBulkRequest {
			return walkRow(req)
		}
		// Every value of the wrong type: strings for counters, a
		// counter for the status, a word for the load.
		var vars []gosnmp.SnmpPDU
		for _, v := range req.Variables {
			switch {
			case strings.HasSuffix(v.Name, oidIfOperStatus+".1"):
				vars = append(vars, gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.IPAddress, Value: "10.0.0.1"})
			case strings.HasSuffix(v.Name, oidLaLoad1):
				vars = append(vars, gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.OctetString, Value: []byte("high")})
			default:
				vars = append(vars, gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.OctetString, Value: []byte("12345")})
			}
		}
		return vars
	})
	samples, err := hostilePoller(t, port).Poll(context.Background())
	if err == nil {
		t.Fatal("no error for values of the wrong type")
	}
	for _, want := range []string{
		"interface eth0 (" + oidIfHCInOctets + ".1): it is OctetString, not a counter",
		"interface eth0 status (" + oidIfOperStatus + ".1): it is IPAddress, not a number",
		"laLoad.1 (" + oidLaLoad1 + `): it is the string "high", not a number`,
		"hactl_snmp_memory_total_bytes (" + oidMemTotalReal + "): it is OctetString, not a number",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// Nothing is made of the wrong values.
	if up, _ := find(samples, "hactl_snmp_up"); up != 1 {
		t.Errorf("hactl_snmp_up %v for a device that answered", up)
	}
	for _, s := range samples {
		if s.Name != "hactl_snmp_up" {
			t.Errorf("a value of the wrong type became %s", s.Series())
		}
	}
}

func TestEndlessTableIsRefused(t *testing.T) {
	port := hostileAgent(t, func(req *gosnmp.SnmpPacket) []gosnmp.SnmpPDU {
		if req.PDUType != gosnmp.GetBulkRequest {
			return nil
		}
		// Always more rows, after whatever was asked for.
		name := strings.TrimPrefix(req.Variables[0].Name, ".")
		col, next := name, 1
		if strings.Count(name, ".") > strings.Count(oidIfName, ".") {
			i := strings.LastIndexByte(name, '.')
			col = name[:i]
			n, _ := strconv.Atoi(name[i+1:])
			next = n + 1
		}
		var vars []gosnmp.SnmpPDU
		for i := range 25 {
			vars = append(vars, gosnmp.SnmpPDU{Name: "." + col + "." + strconv.Itoa(next+i), Type: gosnmp.OctetString, Value: []byte("x")})
		}
		return vars
	})
	start := time.Now()
	samples, err := hostilePoller(t, port).Poll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "has more than 4096 rows") {
		t.Fatalf("endless table: %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("the endless table held the poll %v", time.Since(start))
	}
	want := []metric.Sample{{Name: "hactl_snmp_up", Labels: []metric.Label{{Name: "device", Value: "d"}}}}
	if len(samples) != 1 || samples[0].Series() != want[0].Series() || samples[0].Value != 0 {
		t.Errorf("samples %v, want hactl_snmp_up 0 only", samples)
	}
}

package snmp

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"

	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/spec"
)

// The OIDs polled, from IF-MIB (RFC 2863), UCD-SNMP-MIB and
// HOST-RESOURCES-MIB (RFC 2790).
const (
	oidIfDescr       = "1.3.6.1.2.1.2.2.1.2"
	oidIfOperStatus  = "1.3.6.1.2.1.2.2.1.8"
	oidIfInErrors    = "1.3.6.1.2.1.2.2.1.14"
	oidIfOutErrors   = "1.3.6.1.2.1.2.2.1.20"
	oidIfName        = "1.3.6.1.2.1.31.1.1.1.1"
	oidIfHCInOctets  = "1.3.6.1.2.1.31.1.1.1.6"
	oidIfHCOutOctets = "1.3.6.1.2.1.31.1.1.1.10"

	oidLaLoad1       = "1.3.6.1.4.1.2021.10.1.3.1"
	oidMemTotalSwap  = "1.3.6.1.4.1.2021.4.3.0"
	oidMemAvailSwap  = "1.3.6.1.4.1.2021.4.4.0"
	oidMemTotalReal  = "1.3.6.1.4.1.2021.4.5.0"
	oidMemAvailReal  = "1.3.6.1.4.1.2021.4.6.0"
	oidMemBuffer     = "1.3.6.1.4.1.2021.4.14.0"
	oidMemCached     = "1.3.6.1.4.1.2021.4.15.0"
	oidHrStorage     = "1.3.6.1.2.1.25.2.3.1"
	oidHrStorageRAM  = "1.3.6.1.2.1.25.2.1.2"
	oidHrProcessLoad = "1.3.6.1.2.1.25.3.3.1.2"
)

// ucdMemory are UCD's memory figures, all in KiB.
var ucdMemory = []struct{ oid, name, help string }{
	{oidMemTotalReal, "hactl_snmp_memory_total_bytes", "Real memory of the SNMP device."},
	{oidMemAvailReal, "hactl_snmp_memory_free_bytes", "Free real memory of the SNMP device."},
	{oidMemBuffer, "hactl_snmp_memory_buffers_bytes", "Memory the SNMP device uses for buffers."},
	{oidMemCached, "hactl_snmp_memory_cached_bytes", "Memory the SNMP device uses for its cache."},
	{oidMemTotalSwap, "hactl_snmp_memory_swap_total_bytes", "Swap space of the SNMP device."},
	{oidMemAvailSwap, "hactl_snmp_memory_swap_free_bytes", "Free swap space of the SNMP device."},
}

func scalarOIDs() []string {
	oids := []string{oidLaLoad1}
	for _, m := range ucdMemory {
		oids = append(oids, m.oid)
	}
	return oids
}

func interfaceOIDs(i int) []string {
	var oids []string
	for _, col := range []string{oidIfHCInOctets, oidIfHCOutOctets, oidIfInErrors, oidIfOutErrors, oidIfOperStatus} {
		oids = append(oids, col+"."+strconv.Itoa(i))
	}
	return oids
}

// errAbsent is a value the device does not have (noSuchObject,
// noSuchInstance, endOfMibView, or left out of its reply).
var errAbsent = errors.New("the device does not have it")

// kind is the type a MIB gives a value.
type kind int

const (
	// counter is a Counter32 or Counter64 and nothing else: a counter
	// of another type would be turned into a rate that means nothing.
	counter kind = iota
	// integer is any numeric type.
	integer
	// text is a numeric type or a string holding a number, as UCD
	// gives loads ("0.15") and as an OID the HCL names may be.
	text
)

// number reads a value of the kind the MIB gives it.
func number(v gosnmp.SnmpPDU, want kind) (float64, error) {
	switch v.Type {
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null:
		return 0, errAbsent
	case gosnmp.Counter32, gosnmp.Counter64:
		return bigFloat(v)
	}
	if want == counter {
		return 0, fmt.Errorf("it is %v, not a counter", v.Type)
	}
	switch v.Type {
	case gosnmp.Integer, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Uinteger32:
		return bigFloat(v)
	case gosnmp.OpaqueFloat:
		if f, ok := v.Value.(float32); ok {
			return float64(f), nil
		}
	case gosnmp.OpaqueDouble:
		if f, ok := v.Value.(float64); ok {
			return f, nil
		}
	case gosnmp.OctetString:
		if b, ok := v.Value.([]byte); ok && want == text {
			f, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return 0, fmt.Errorf("it is the string %.40q, not a number", b)
			}
			return f, nil
		}
	}
	return 0, fmt.Errorf("it is %v, not a number", v.Type)
}

func bigFloat(v gosnmp.SnmpPDU) (float64, error) {
	switch v.Value.(type) {
	case int, int64, uint, uint32, uint64:
		f, _ := gosnmp.ToBigInt(v.Value).Float64()
		return f, nil
	}
	return 0, fmt.Errorf("its %v value is a %T", v.Type, v.Value)
}

// findIndex is the lowest ifIndex whose name in table is want.
func findIndex(table map[string]gosnmp.SnmpPDU, want string) (int, bool) {
	best := -1
	for suffix, v := range table {
		b, ok := v.Value.([]byte)
		if !ok || v.Type != gosnmp.OctetString || string(b) != want {
			continue
		}
		if i, err := strconv.Atoi(suffix); err == nil && i > 0 && (best < 0 || i < best) {
			best = i
		}
	}
	return best, best > 0
}

// collection is one poll's samples and the problems met on the way.
type collection struct {
	dev     spec.SNMPDevice
	samples []metric.Sample
	errs    []error
}

func (c *collection) add(name, help string, kind metric.Kind, v float64, labels ...metric.Label) {
	c.samples = append(c.samples, metric.Sample{Name: name, Help: help, Kind: kind, Value: v,
		Labels: append([]metric.Label{{Name: "device", Value: c.dev.Name}}, labels...)})
}

func (c *collection) gauge(name, help string, v float64, labels ...metric.Label) {
	c.add(name, help, metric.Gauge, v, labels...)
}

// read is the value of oid in got; absent values are an error only when
// required.
func (c *collection) read(got map[string]gosnmp.SnmpPDU, oid, what string, want kind, required bool) (float64, bool) {
	v, ok := got[oid]
	if !ok {
		v.Type = gosnmp.NoSuchInstance
	}
	f, err := number(v, want)
	if err != nil && (required || !errors.Is(err, errAbsent)) {
		c.errs = append(c.errs, fmt.Errorf("SNMP device %s: %s (%s): %w", c.dev.Name, what, oid, err))
	}
	return f, err == nil
}

var ifSeries = []struct{ col, name, help string }{
	{oidIfHCInOctets, "hactl_snmp_if_in_octets_total", "Bytes the SNMP device's interface received (ifHCInOctets)."},
	{oidIfHCOutOctets, "hactl_snmp_if_out_octets_total", "Bytes the SNMP device's interface sent (ifHCOutOctets)."},
	{oidIfInErrors, "hactl_snmp_if_in_errors_total", "Inbound packets with errors on the SNMP device's interface (ifInErrors)."},
	{oidIfOutErrors, "hactl_snmp_if_out_errors_total", "Outbound packets not sent for errors on the SNMP device's interface (ifOutErrors)."},
}

func (c *collection) interfaces(names []string, idx map[string]int, got map[string]gosnmp.SnmpPDU) {
	for _, name := range names {
		i, ok := idx[name]
		if !ok {
			continue
		}
		label := metric.Label{Name: "interface", Value: name}
		for _, s := range ifSeries {
			if v, ok := c.read(got, s.col+"."+strconv.Itoa(i), "interface "+name, counter, true); ok {
				c.add(s.name, s.help, metric.Counter, v, label)
			}
		}
		if v, ok := c.read(got, oidIfOperStatus+"."+strconv.Itoa(i), "interface "+name+" status", integer, true); ok {
			up := 0.0
			if v == 1 {
				up = 1
			}
			c.gauge("hactl_snmp_if_oper_up", "Whether the SNMP device's interface is operationally up (ifOperStatus up: 1).", up, label)
		}
	}
}

// ucd adds UCD-SNMP's load and memory; it reports true when the device
// has none of them.
func (c *collection) ucd(got map[string]gosnmp.SnmpPDU) bool {
	none := true
	if v, ok := c.read(got, oidLaLoad1, "laLoad.1", text, false); ok {
		c.gauge("hactl_snmp_load1", "1-minute load average of the SNMP device (UCD laLoad.1).", v)
		none = false
	}
	for _, m := range ucdMemory {
		if v, ok := c.read(got, m.oid, m.name, integer, false); ok {
			c.gauge(m.name, m.help, v*1024)
			none = false
		}
	}
	return none
}

// hostResources adds HOST-RESOURCES' RAM (hrStorageRam) and processor
// load, when the device keeps them.
func (c *collection) hostResources(walk func(root string) (map[string]gosnmp.SnmpPDU, error)) {
	storage, err := walk(oidHrStorage)
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	for suffix, typ := range storage {
		row, ok := strings.CutPrefix(suffix, "2.")
		if oid, isOID := typ.Value.(string); !ok || !isOID || strings.TrimPrefix(oid, ".") != oidHrStorageRAM {
			continue
		}
		units, ok1 := c.read(storage, "4."+row, "hrStorageAllocationUnits", integer, true)
		size, ok2 := c.read(storage, "5."+row, "hrStorageSize", integer, true)
		used, ok3 := c.read(storage, "6."+row, "hrStorageUsed", integer, true)
		if ok1 && ok2 && ok3 {
			c.gauge("hactl_snmp_memory_total_bytes", "Real memory of the SNMP device.", size*units)
			c.gauge("hactl_snmp_memory_used_bytes", "Used real memory of the SNMP device (HOST-RESOURCES).", used*units)
		}
		break
	}
	loads, err := walk(oidHrProcessLoad)
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	var sum float64
	n := 0
	for suffix := range loads {
		if v, ok := c.read(loads, suffix, "hrProcessorLoad", integer, true); ok {
			sum += v
			n++
		}
	}
	if n > 0 {
		c.gauge("hactl_snmp_cpu_load_percent", "Average processor load of the SNMP device over the last minute (HOST-RESOURCES hrProcessorLoad).", sum/float64(n))
	}
}

// extra adds the HCL's own OIDs, counters as counters.
func (c *collection) extra(oids []string, got map[string]gosnmp.SnmpPDU) {
	for _, oid := range oids {
		oid = strings.TrimPrefix(oid, ".")
		v, ok := c.read(got, oid, "OID", text, true)
		if !ok {
			continue
		}
		kind := metric.Gauge
		if t := got[oid].Type; t == gosnmp.Counter32 || t == gosnmp.Counter64 {
			kind = metric.Counter
		}
		c.add("hactl_snmp_oid", "A value the HCL asks the SNMP device for by OID.", kind, v, metric.Label{Name: "oid", Value: oid})
	}
}

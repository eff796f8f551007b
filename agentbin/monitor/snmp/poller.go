package snmp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/spec"
)

const (
	// requestTimeout is one request's wait; a poll is also bounded by
	// its context.
	requestTimeout = 2 * time.Second
	retries        = 1
	// defaultMaxRows bounds a table walk: a device answering with an
	// endless or enormous table must not hold the poller.
	defaultMaxRows = 4096
	// oidsPerGet is kept under gosnmp's 60 so that small devices do not
	// answer tooBig.
	oidsPerGet = 30
	// refreshEvery is how many polls the interface names are trusted
	// for before they are looked up again (a device may renumber its
	// ifIndex on reboot; a name not found is looked up at once).
	refreshEvery = 30
)

var authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{
	"MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA224": gosnmp.SHA224,
	"SHA256": gosnmp.SHA256, "SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512,
}

// privProtocols: AES192 and AES256 are Blumenthal's key extension, what
// Net-SNMP implements under those names.
var privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{
	"DES": gosnmp.DES, "AES": gosnmp.AES, "AES192": gosnmp.AES192, "AES256": gosnmp.AES256,
}

var levels = map[string]gosnmp.SnmpV3MsgFlags{
	"noAuthNoPriv": gosnmp.NoAuthNoPriv, "authNoPriv": gosnmp.AuthNoPriv, "authPriv": gosnmp.AuthPriv,
}

// Poller polls one device. Its methods may be called from any goroutine;
// polls of one device are serialised.
type Poller struct {
	dev spec.SNMPDevice

	mu     sync.Mutex
	client *gosnmp.GoSNMP
	// ifIndex maps the spec's interface names to the device's indexes.
	ifIndex map[string]int
	polls   int
	maxRows int
}

// NewPoller makes the device's client, reading its community or v3
// passphrases from the files the spec names. secretDir, when not empty,
// is where those files are looked for instead of the spec's directory
// (only their base names are taken from the spec).
func NewPoller(dev spec.SNMPDevice, secretDir string) (*Poller, error) {
	where := fmt.Sprintf("SNMP device %s (%s)", dev.Name, dev.Address)
	port := dev.Port
	if port == 0 {
		port = 161
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("%s: port %d is out of range", where, dev.Port)
	}
	g := &gosnmp.GoSNMP{
		Target:  dev.Address,
		Port:    uint16(port),
		Timeout: requestTimeout,
		Retries: retries,
		MaxOids: oidsPerGet,
		// Small bulk replies: a switch's tables come in a few round
		// trips without asking for more than it can fit in a datagram.
		MaxRepetitions: 25,
	}
	read := func(what, path string) (string, error) {
		if path == "" {
			return "", fmt.Errorf("%s: no %s file in the spec", where, what)
		}
		if secretDir != "" {
			path = filepath.Join(secretDir, filepath.Base(path))
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("%s: reading the %s: %w (hactl apply uploads it)", where, what, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s: the %s file %s is empty", where, what, path)
		}
		return v, nil
	}
	var err error
	switch dev.Version {
	case "2c", "":
		g.Version = gosnmp.Version2c
		if g.Community, err = read("community", dev.CommunityPath); err != nil {
			return nil, err
		}
	case "3":
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		if err := usm(g, dev, read); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	default:
		return nil, fmt.Errorf("%s: SNMP version %q is not 2c or 3", where, dev.Version)
	}
	if err := g.Connect(); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &Poller{dev: dev, client: g, maxRows: defaultMaxRows}, nil
}

func usm(g *gosnmp.GoSNMP, dev spec.SNMPDevice, read func(what, path string) (string, error)) error {
	level := dev.SecurityLevel
	if level == "" {
		level = "authPriv"
	}
	flags, ok := levels[level]
	if !ok {
		return fmt.Errorf("security level %q is not noAuthNoPriv, authNoPriv or authPriv", level)
	}
	if dev.User == "" {
		return errors.New("SNMPv3 needs a user")
	}
	p := &gosnmp.UsmSecurityParameters{UserName: dev.User, AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
	if flags != gosnmp.NoAuthNoPriv {
		if p.AuthenticationProtocol, ok = authProtocols[orDefault(dev.AuthProtocol, "SHA256")]; !ok {
			return fmt.Errorf("authentication protocol %q is not one of MD5, SHA, SHA224, SHA256, SHA384, SHA512", dev.AuthProtocol)
		}
		var err error
		if p.AuthenticationPassphrase, err = read("authentication passphrase", dev.AuthPasswordPath); err != nil {
			return err
		}
	}
	if flags == gosnmp.AuthPriv {
		if p.PrivacyProtocol, ok = privProtocols[orDefault(dev.PrivProtocol, "AES")]; !ok {
			return fmt.Errorf("privacy protocol %q is not one of DES, AES, AES192, AES256", dev.PrivProtocol)
		}
		var err error
		if p.PrivacyPassphrase, err = read("privacy passphrase", dev.PrivPasswordPath); err != nil {
			return err
		}
	}
	g.MsgFlags, g.SecurityParameters = flags, p
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Close releases the device's socket.
func (p *Poller) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client.Conn == nil {
		return nil
	}
	err := p.client.Conn.Close()
	p.client.Conn = nil
	return err
}

// Poll asks the device for everything the spec wants, labelled
// device=<name> (and interface=<the spec's name> for interfaces). A
// device that does not answer gives hactl_snmp_up 0 and an error; a
// device that answers with some values wrong or missing gives the good
// ones, hactl_snmp_up 1, and an error naming the bad ones.
func (p *Poller) Poll(ctx context.Context) ([]metric.Sample, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client.Conn == nil {
		return nil, fmt.Errorf("SNMP device %s: poller is closed", p.dev.Name)
	}
	p.client.Context = ctx
	c := &collection{dev: p.dev}
	err := p.poll(c)
	up := 1.0
	if err != nil {
		up = 0
		c.errs = append(c.errs, err)
	}
	c.gauge("hactl_snmp_up", "Whether the SNMP device answered the last poll (1) or not (0).", up)
	return c.samples, errors.Join(c.errs...)
}

// poll returns an error only when the device did not answer at all.
func (p *Poller) poll(c *collection) error {
	if len(p.dev.Interfaces) > 0 && (p.ifIndex == nil || p.polls%refreshEvery == 0 || len(p.ifIndex) < len(p.dev.Interfaces)) {
		idx, err := p.interfaces(c)
		if err != nil {
			return err
		}
		p.ifIndex = idx
	}
	p.polls++
	oids := scalarOIDs()
	for _, name := range p.dev.Interfaces {
		if i, ok := p.ifIndex[name]; ok {
			oids = append(oids, interfaceOIDs(i)...)
		}
	}
	oids = append(oids, p.dev.OIDs...)
	got, err := p.get(oids)
	if err != nil {
		return err
	}
	c.interfaces(p.dev.Interfaces, p.ifIndex, got)
	if c.ucd(got) {
		// No UCD-SNMP: a device that is not Net-SNMP may still keep
		// HOST-RESOURCES.
		c.hostResources(p.walk)
	}
	c.extra(p.dev.OIDs, got)
	return nil
}

// get asks for oids in requests of at most oidsPerGet, and returns the
// answers by OID (without the leading dot).
func (p *Poller) get(oids []string) (map[string]gosnmp.SnmpPDU, error) {
	got := make(map[string]gosnmp.SnmpPDU, len(oids))
	for start := 0; start < len(oids); start += oidsPerGet {
		chunk := oids[start:min(start+oidsPerGet, len(oids))]
		pkt, err := p.client.Get(chunk)
		if err != nil {
			return nil, fmt.Errorf("SNMP device %s (%s): no answer: %w", p.dev.Name, p.dev.Address, err)
		}
		if pkt.Error != gosnmp.NoError {
			return nil, fmt.Errorf("SNMP device %s: it refused a get of %d OIDs: %v", p.dev.Name, len(chunk), pkt.Error)
		}
		for _, v := range pkt.Variables {
			got[strings.TrimPrefix(v.Name, ".")] = v
		}
	}
	return got, nil
}

// walk reads the table under root, column OID suffix → value, refusing
// one longer than p.maxRows.
func (p *Poller) walk(root string) (map[string]gosnmp.SnmpPDU, error) {
	rows := map[string]gosnmp.SnmpPDU{}
	errTooLong := fmt.Errorf("SNMP device %s: table %s has more than %d rows; not read", p.dev.Name, root, p.maxRows)
	err := p.client.BulkWalk(root, func(v gosnmp.SnmpPDU) error {
		if len(rows) >= p.maxRows {
			return errTooLong
		}
		rows[strings.TrimPrefix(strings.TrimPrefix(v.Name, "."), root+".")] = v
		return nil
	})
	if err != nil {
		if errors.Is(err, errTooLong) {
			return nil, errTooLong
		}
		return nil, fmt.Errorf("SNMP device %s (%s): walking %s: %w", p.dev.Name, p.dev.Address, root, err)
	}
	return rows, nil
}

// interfaces finds the spec's interfaces by ifName, then by ifDescr. A
// name found nowhere is reported and left out; a device that does not
// answer is an error.
func (p *Poller) interfaces(c *collection) (map[string]int, error) {
	names, err := p.walk(oidIfName)
	if err != nil {
		return nil, err
	}
	descrs, err := p.walk(oidIfDescr)
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for _, want := range p.dev.Interfaces {
		i, ok := findIndex(names, want)
		if !ok {
			i, ok = findIndex(descrs, want)
		}
		if !ok {
			c.errs = append(c.errs, fmt.Errorf("SNMP device %s: no interface %q (looked for in ifName and ifDescr)", p.dev.Name, want))
			continue
		}
		idx[want] = i
	}
	return idx, nil
}

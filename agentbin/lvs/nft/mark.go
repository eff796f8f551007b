package nft

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
)

// MarkTable is the table where the nftables datapath marks the packets of
// its firewall-mark services (the IPVS datapath has its own).
const MarkTable = "hactl_lvs_mark"

const markChain = "marking"

// Marker marks the packets of firewall-mark services, as operators do with
// iptables -t mangle, in a table of hactl's own that nothing else
// touches: one chain at prerouting, before NAT and IPVS look at the mark,
// with a rule per marked address and port. A datapath owns one Marker and
// syncs it with its services; the rules carry comments naming the service
// and digesting their content, so that an edit by hand shows.
type Marker struct {
	conn  *nftables.Conn
	table *nftables.Table
}

// NewMarker returns the marker of table (a name of hactl's) on conn.
func NewMarker(conn *nftables.Conn, table string) *Marker {
	return &Marker{conn: conn, table: &nftables.Table{Name: table, Family: nftables.TableFamilyINet}}
}

// markComment names the service whose packets a rule marks.
func markComment(svc, digest string) string { return "hactl mark svc=" + svc + " " + digest }

// markService names the service in a marking rule's comment.
func markService(comment string) string {
	rest, _ := strings.CutPrefix(comment, "hactl mark svc=")
	name, _, _ := strings.Cut(rest, " ")
	return name
}

// markRules are the rules that mark the services' packets, in order.
func markRules(services []datapath.Service) []ruleSpec {
	var out []ruleSpec
	for _, s := range services {
		if s.FWMark == 0 || s.Mark == nil {
			continue
		}
		for _, a := range s.Mark.Addresses {
			v4 := a.Is4()
			for _, p := range s.Mark.Ports {
				exprs := []expr.Any{
					&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{family(v4)}},
					addrPayload(v4, false),
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
					&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNumber(s.Protocol)}},
					&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p)},
					&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(s.FWMark)},
					&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
				}
				out = append(out, ruleSpec{exprs: exprs, comment: markComment(s.Name, digest(exprs))})
			}
		}
	}
	return out
}

// read lists the comments of the mark chain's rules; ok is false when
// the table does not exist.
func (m *Marker) read() (rules []*nftables.Rule, ok bool, err error) {
	tables, err := m.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, false, fmt.Errorf("listing nftables tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == m.table.Name }) {
		return nil, false, nil
	}
	rules, err = m.conn.GetRules(m.table, &nftables.Chain{Name: markChain, Table: m.table})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, true, fmt.Errorf("reading chain %s of table %s: %w", markChain, m.table.Name, err)
	}
	return rules, true, nil
}

// compare says how the chain differs from the wanted rules.
func (m *Marker) compare(have []*nftables.Rule, want []ruleSpec) []string {
	var out []string
	haveComments := map[string]bool{}
	for _, r := range have {
		haveComments[comment(r)] = true
	}
	wantComments := map[string]bool{}
	reported := map[string]bool{}
	for _, r := range want {
		wantComments[r.comment] = true
		svc := markService(r.comment)
		if !haveComments[r.comment] && !reported[svc] {
			reported[svc] = true
			out = append(out, fmt.Sprintf("virtual service %q: rules marking its packets are missing from chain %s of table inet %s", svc, markChain, m.table.Name))
		}
	}
	for _, r := range have {
		if !wantComments[comment(r)] {
			out = append(out, fmt.Sprintf("chain %s of table inet %s has a rule hactl did not write or no longer wants (handle %d)", markChain, m.table.Name, r.Handle))
		}
	}
	if len(out) == 0 && len(have) != len(want) {
		out = append(out, fmt.Sprintf("chain %s of table inet %s holds a rule twice", markChain, m.table.Name))
	}
	return out
}

// Drift says how the marking rules differ from these services'.
func (m *Marker) Drift(services []datapath.Service) []string {
	have, _, err := m.read()
	if err != nil {
		return []string{err.Error()}
	}
	return m.compare(have, markRules(services))
}

// Sync makes the chain mark exactly these services' packets, in one
// transaction, and writes nothing when it already does. It removes the
// table when no service wants a mark.
func (m *Marker) Sync(services []datapath.Service) (changed bool, err error) {
	want := markRules(services)
	have, exists, err := m.read()
	if err != nil {
		return false, err
	}
	if len(want) == 0 {
		if !exists {
			return false, nil
		}
		return true, m.Close()
	}
	if exists && len(m.compare(have, want)) == 0 {
		return false, nil
	}
	m.conn.AddTable(m.table)
	chain := m.conn.AddChain(&nftables.Chain{Name: markChain, Table: m.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle})
	m.conn.FlushChain(chain)
	for _, r := range want {
		m.conn.AddRule(&nftables.Rule{Table: m.table, Chain: chain, Exprs: r.exprs, UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment)})
	}
	if err := m.conn.Flush(); err != nil {
		return false, fmt.Errorf("writing the marking rules in table inet %s: %w", m.table.Name, err)
	}
	return true, nil
}

// Close removes the table, when it exists.
func (m *Marker) Close() error {
	_, exists, err := m.read()
	if err != nil || !exists {
		return err
	}
	m.conn.DelTable(m.table)
	if err := m.conn.Flush(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing table inet %s: %w", m.table.Name, err)
	}
	return nil
}

// markMatch is the nftables datapath's dispatch match of a firewall-mark
// service: the packets of the VIP's family with the mark.
func markMatch(s datapath.Service) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{family(s.Address.Is4())}},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(s.FWMark)},
	}
}

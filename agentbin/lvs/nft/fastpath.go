package nft

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	vnl "github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The fast path is a flowtable (software offload) in the datapath's table,
// where the kernel has flowtables. A connection's first packets take the
// slow path as before: conntrack, the nat hook's rules, the forward hook.
// Once it is established, the rule of the forward chain puts it in the
// flowtable, and its further packets are forwarded from the ingress hook
// of the device they arrive on (routed, NAT'd, counted), past the rest of
// netfilter and of the IP stack. Only the services' connections go there:
// the real servers' chains set a conntrack label bit as they rewrite the
// destination, and the forward rule offloads only the connections that
// carry it, so other software's forwarded traffic keeps its own path.
//
// What does not change:
//   - scheduling: a new connection never takes the fast path;
//   - accounting: the flowtable counts into conntrack's counters (flag
//     counter), so Stats' bytes and packets stay whole, and an offloaded
//     connection stays ESTABLISHED in conntrack;
//   - draining: an established connection to a quiescent or removed real
//     server keeps its NAT with or without the fast path, and forget
//     deletes only the entries of connections not established, which are
//     never offloaded (a flow whose entry goes is torn down by the
//     flowtable's garbage collector within a second);
//   - closing: a TCP FIN or RST takes the flow out of the flowtable, and
//     conntrack tracks the close as before (TIME_WAIT, client port reuse);
//   - timeouts: an offloaded connection's conntrack entry does not expire
//     while offloaded; the flowtable evicts a flow idle for
//     net.netfilter.nf_flowtable_tcp_timeout (30 s) or udp_timeout, and
//     conntrack's own timeouts apply again from then on;
//   - failover: the standby holds no flow, as it holds no conntrack entry
//     of the active director's connections (the nftables datapath syncs
//     none).
const (
	flowtableName = "fastpath"
	forwardChain  = "forward"
	// probeTable is created and deleted in the same transaction, to ask
	// the kernel whether it has what the fast path needs.
	probeTable = TableName + "_probe"
	// maxFlowtableDevices is the kernel's NFT_FLOWTABLE_DEVICE_MAX.
	maxFlowtableDevices = 256
)

// forwardPriority runs the forward chain after the filter chains (priority
// 0): a packet another table drops never reaches it, so a connection the
// host's firewall refuses is never offloaded past it.
var forwardPriority = nftables.ChainPriorityRef(100)

// offloadLabel is the conntrack label bit of the services' connections.
var offloadLabel = func() []byte {
	b := make([]byte, 16)
	b[15] = 0x80 // bit 127, as the kernel numbers a little-endian bitmap
	return b
}()

// labelExprs set offloadLabel on the packet's connection, leaving its other
// labels as they are (the kernel ORs the bits in).
func labelExprs() []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: offloadLabel},
		&expr.Ct{Key: expr.CtKeyLABELS, Register: 1, SourceRegister: true},
	}
}

// offloadRule puts the labelled connections in the flowtable.
func offloadRule() ruleSpec {
	return rule(
		&expr.Ct{Key: expr.CtKeyLABELS, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 16, Mask: offloadLabel, Xor: make([]byte, 16)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 16)},
		&expr.FlowOffload{Name: flowtableName},
	)
}

// refusal is a flowtable the kernel refused in a Sync although the probe
// passed: the fast path stays off while the interfaces stay these.
type refusal struct {
	devices []string
	err     error
}

// fastPath is the fast path a Sync wants: the flowtable's devices, none
// when it is off.
type fastPath struct {
	devices []string
}

func (f *fastPath) on() bool { return f != nil && len(f.devices) > 0 }

func (d *Datapath) flowtable(devices []string) *nftables.Flowtable {
	return &nftables.Flowtable{Table: d.table, Name: flowtableName, Hooknum: nftables.FlowtableHookIngress,
		Priority: nftables.FlowtablePriorityFilter, Devices: devices, Flags: nftables.FlowtableFlagsCounter}
}

func (d *Datapath) forward() *nftables.Chain {
	return &nftables.Chain{Name: forwardChain, Table: d.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: forwardPriority}
}

// wantFastPath says what fast path the next Sync writes: the flowtable on
// every interface of the namespace but loopback, when the kernel has
// flowtables (asked once). Interfaces added later join at the next Sync
// that changes something.
func (d *Datapath) wantFastPath() *fastPath {
	devices, err := d.interfaces()
	if err != nil || len(devices) == 0 {
		d.fastNote = "off: no interface to offload on"
		if err != nil {
			d.fastNote = "off: " + err.Error()
		}
		return nil
	}
	if len(devices) > maxFlowtableDevices {
		d.fastNote = fmt.Sprintf("off: %d interfaces, more than a flowtable takes (%d)", len(devices), maxFlowtableDevices)
		return nil
	}
	if !d.probed {
		d.probed = true
		d.fastErr = d.probe(devices)
	}
	if d.fastErr != nil {
		d.fastNote = "off: " + d.fastErr.Error()
		return nil
	}
	if d.refused != nil && slices.Equal(devices, d.refused.devices) {
		d.fastNote = "off: " + d.refused.err.Error()
		return nil
	}
	d.fastNote = "flowtable on " + strings.Join(devices, ", ")
	return &fastPath{devices: devices}
}

// FastPath says whether the datapath forwards established connections
// through a flowtable, on which interfaces, or why not.
func (d *Datapath) FastPath() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fastNote == "" {
		return "not decided yet (no Sync)"
	}
	return d.fastNote
}

// interfaces lists the namespace's interfaces but loopback, sorted.
func (d *Datapath) interfaces() ([]string, error) {
	h, err := vnl.NewHandle(unix.NETLINK_ROUTE)
	if d.netns != 0 {
		h, err = vnl.NewHandleAt(vnetns.NsHandle(d.netns), unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	var out []string
	for _, l := range links {
		if a := l.Attrs(); a.Flags&net.FlagLoopback == 0 {
			out = append(out, a.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// probe asks the kernel, in one transaction that adds a table and deletes
// it again, for what the fast path needs: a flowtable with counters, flow
// offload in a forward chain, conntrack labels.
func (d *Datapath) probe(devices []string) error {
	c := d.conn
	t := &nftables.Table{Name: probeTable, Family: nftables.TableFamilyINet}
	c.AddTable(t)
	ft := d.flowtable(devices)
	ft.Table = t
	c.AddFlowtable(ft)
	fwd := d.forward()
	fwd.Table = t
	c.AddChain(fwd)
	nat := &nftables.Chain{Name: "nat", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest}
	c.AddChain(nat)
	c.AddRule(&nftables.Rule{Table: t, Chain: nat, Exprs: labelExprs()})
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: offloadRule().exprs})
	c.DelTable(t)
	err := c.Flush()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrNotExist):
		return errors.New("the kernel has no nftables flowtables (nf_flow_table_inet, nft_flow_offload)")
	}
	return fmt.Errorf("the kernel refused a flowtable, flow offload or conntrack labels: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
}

// fastPathMatches says whether the kernel's flowtable and forward chain are
// what f asks (none when f is off).
func (k *kernel) fastPathMatches(f *fastPath) bool {
	if !f.on() {
		_, chain := k.chains[forwardChain]
		return k.flowtable == nil && !chain
	}
	return k.flowtable != nil && slices.Equal(k.flowtable.Devices, f.devices) &&
		k.flowtable.Flags&nftables.FlowtableFlagsCounter != 0 &&
		k.chainMatches(chainSpec{name: forwardChain, rules: []ruleSpec{offloadRule()}})
}

// writeFastPath queues the writes that make the flowtable and the forward
// chain what f asks: the forward chain is emptied first, so that the
// flowtable is unreferenced when it is deleted. Flows in a flowtable
// deleted go back to the slow path, where conntrack still NATs them.
func (d *Datapath) writeFastPath(k *kernel, f *fastPath) {
	c := d.conn
	_, chain := k.chains[forwardChain]
	if chain {
		c.FlushChain(d.forward())
	}
	if k.flowtable != nil {
		c.DelFlowtable(d.flowtable(nil))
	}
	if !f.on() {
		if chain {
			c.DelChain(d.forward())
		}
		return
	}
	c.AddFlowtable(d.flowtable(f.devices))
	fwd := c.AddChain(d.forward())
	r := offloadRule()
	c.AddRule(&nftables.Rule{Table: d.table, Chain: fwd, Exprs: r.exprs, UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment)})
}

// readFlowtable reads the table's flowtable: nil when it has none.
func (d *Datapath) readFlowtable() (*nftables.Flowtable, error) {
	fts, err := d.conn.ListFlowtables(d.table)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing the flowtables of table %s: %w", TableName, err)
	}
	for _, ft := range fts {
		if ft.Name == flowtableName {
			slices.Sort(ft.Devices)
			return ft, nil
		}
	}
	return nil, nil
}

// fastPathDrift says how the kernel's fast path differs from f.
func fastPathDrift(k *kernel, f *fastPath) string {
	switch {
	case !f.on() && k.flowtable != nil:
		return fmt.Sprintf("flowtable %s of table %s is there, but the fast path is off", flowtableName, TableName)
	case !f.on():
		return fmt.Sprintf("chain %s of table %s is there, but the fast path is off", forwardChain, TableName)
	case k.flowtable == nil:
		return fmt.Sprintf("flowtable %s of table %s is missing", flowtableName, TableName)
	case !slices.Equal(k.flowtable.Devices, f.devices):
		return fmt.Sprintf("flowtable %s of table %s is on %s, not on %s", flowtableName, TableName,
			strings.Join(k.flowtable.Devices, ", "), strings.Join(f.devices, ", "))
	case k.flowtable.Flags&nftables.FlowtableFlagsCounter == 0:
		return fmt.Sprintf("flowtable %s of table %s does not count into conntrack", flowtableName, TableName)
	}
	return fmt.Sprintf("the rules of chain %s of table %s were changed", forwardChain, TableName)
}

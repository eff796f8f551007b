// Package nft is the lvs role's nftables datapath: virtual services as NAT
// rules in a table of hactl's own (inet hactl_lvs), laid out as
// kube-proxy's nftables mode does (see rules.go), written through
// github.com/google/nftables in one netlink transaction per Sync. It does
// NAT forwarding with the rr, wrr, sh and dh schedulers and persistence;
// what only IPVS can do it refuses (Capable).
package nft

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
)

// Name is the datapath's name in the HCL.
const Name = "nftables"

// TableName is the table the datapath owns; nothing else may write to it.
const TableName = "hactl_lvs"

const preroutingChain = "prerouting"

func init() {
	datapath.Register(datapath.Kind{Name: Name, Available: Available, Capable: Capable, LocalOnly: true,
		Open: func(datapath.OpenEnv) (datapath.Datapath, error) { return Open(nil) }})
}

// Available says whether the kernel has nftables' NAT.
func Available() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("no netlink connection to nftables: %w", err)
	}
	if _, err := c.ListTablesOfFamily(nftables.TableFamilyINet); err != nil {
		return fmt.Errorf("the kernel does not answer nftables requests: %w", err)
	}
	return nil
}

// Capable refuses what nftables cannot do, naming the alternatives.
func Capable(s datapath.Service) error {
	if !slices.Contains(datapath.NFTablesSchedulers, s.Scheduler) {
		return fmt.Errorf("virtual service %q: the nftables datapath has no %q scheduler (it keeps no per-server connection counts); use rr, wrr, sh or dh, or datapath = \"ipvs\"", s.Name, s.Scheduler)
	}
	if s.Forwarding != "nat" {
		return fmt.Errorf("virtual service %q: the nftables datapath forwards by NAT only, not %q; use forwarding = \"nat\", or datapath = \"ipvs\"", s.Name, s.Forwarding)
	}
	return nil
}

// Datapath is the nftables datapath.
type Datapath struct {
	mu    sync.Mutex // one transaction at a time
	conn  *nftables.Conn
	netns int // 0: the agent's own
	table *nftables.Table
	// writes counts the netlink transactions that changed something, for
	// tests that an unchanged Sync writes nothing.
	writes int
	// last are the services of the last Sync, for Stats.
	last []datapath.Service
	// written is the table as the last Sync left it, at generation gen:
	// while the generation stays, Sync and Drift compare with it instead
	// of dumping every chain (one per real server). Every fullReadEvery-th
	// comparison reads the kernel anyway.
	written *kernel
	gen     uint32
	reads   int
	// marks marks the packets of the firewall-mark services.
	marks *Marker
	// counted are the services the last syncTable wrote.
	counted map[string]bool
	// gone are the real servers that stopped taking new connections
	// lately, by service, with when: their closed connections' entries
	// are swept at every Sync for a while (see forget).
	gone map[string]map[datapath.Backend]time.Time
	// probed, fastErr: whether the kernel was asked for what the fast
	// path needs, and its answer; fastNote says what the last Sync
	// chose (FastPath).
	probed   bool
	fastErr  error
	fastNote string
	refused  *refusal
	// fast is the fast path of the last Sync.
	fast *fastPath
}

// sweepFor is how long the closed connections of a departed real server
// are swept: a little over conntrack's CLOSE timeout (10 s), so that the
// entry of a connection refused just as the server left goes too.
const sweepFor = 12 * time.Second

// sweep lists the real servers whose closed connections must go now: those
// that left at this Sync and those that left lately.
func (d *Datapath) sweep(services []datapath.Service, now time.Time) map[string][]datapath.Backend {
	if d.gone == nil {
		d.gone = map[string]map[datapath.Backend]time.Time{}
	}
	for svc, bs := range departed(d.last, services) {
		if d.gone[svc] == nil {
			d.gone[svc] = map[datapath.Backend]time.Time{}
		}
		for _, b := range bs {
			b.Weight = 0
			d.gone[svc][b] = now
		}
	}
	live := map[string]map[datapath.Backend]bool{}
	for _, s := range services {
		live[s.Name] = map[datapath.Backend]bool{}
		for _, b := range s.Backends {
			if b.Weight > 0 {
				b.Weight = 0
				live[s.Name][b] = true
			}
		}
	}
	out := map[string][]datapath.Backend{}
	for svc, bs := range d.gone {
		for b, at := range bs {
			// One that came back takes connections again: its
			// handshakes in progress must keep their entries.
			if now.Sub(at) > sweepFor || live[svc][b] {
				delete(bs, b)
				continue
			}
			out[svc] = append(out[svc], b)
		}
		if len(bs) == 0 {
			delete(d.gone, svc)
		}
	}
	return out
}

const fullReadEvery = 16

// current is the table as it is now: the record of the last write when
// nothing was committed since, otherwise what the kernel lists. The
// prerouting chain is always read: its rules' handles are needed to
// replace them.
func (d *Datapath) current() (*kernel, error) {
	d.reads++
	if gen, err := d.generation(); err == nil && d.written != nil && gen == d.gen && d.reads%fullReadEvery != 0 {
		rules, err := d.conn.GetRules(d.table, &nftables.Chain{Name: preroutingChain, Table: d.table})
		if err != nil {
			return nil, fmt.Errorf("reading chain %s of table %s: %w", preroutingChain, TableName, err)
		}
		k := *d.written
		k.chains = maps.Clone(k.chains)
		k.chains[preroutingChain] = rules
		return &k, nil
	}
	return d.read()
}

// record remembers the table as a successful Sync of want and fast left
// it.
func (d *Datapath) record(want []serviceSpec, fast *fastPath) {
	gen, err := d.generation()
	if err != nil {
		d.written = nil
		return
	}
	k := newKernel()
	k.exists = true
	if fast.on() {
		k.flowtable = d.flowtable(fast.devices)
		k.chains[forwardChain] = []*nftables.Rule{{UserData: userdata.AppendString(nil, userdata.TypeComment, offloadRule().comment)}}
	}
	for _, sp := range want {
		for _, c := range sp.counters {
			k.counters[c] = 0
		}
		for _, c := range sp.chains {
			var rules []*nftables.Rule
			for _, r := range c.rules {
				rules = append(rules, &nftables.Rule{UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment)})
			}
			k.chains[c.name] = rules
		}
		for _, s := range sp.sets {
			set := &nftables.Set{Name: s.name, IsMap: s.isMap, KeyType: s.keyType}
			if !s.isMap {
				set.HasTimeout, set.Timeout = true, time.Duration(s.timeout)*time.Millisecond
			}
			k.sets[s.name] = set
			if s.isMap {
				m := map[uint32]string{}
				for i, ch := range s.slots {
					m[uint32(i)] = ch
				}
				k.elems[s.name] = m
			}
		}
	}
	d.written, d.gen = k, gen
}

var _ datapath.Datapath = (*Datapath)(nil)

// Open returns the datapath on the nftables of the network namespace
// netns, or of the agent's own when it is nil (tests and benchmarks give
// one).
func Open(netns *os.File) (*Datapath, error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(bigBuffers)}
	fd := 0
	if netns != nil {
		fd = int(netns.Fd())
		opts = append(opts, nftables.WithNetNSFd(fd))
	}
	conn, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to nftables: %w", err)
	}
	// Per-connection byte counts for Stats; best effort (a kernel
	// without conntrack accounting shows -1).
	_ = os.WriteFile("/proc/sys/net/netfilter/nf_conntrack_acct", []byte("1"), 0o644)
	return &Datapath{conn: conn, netns: fd, table: &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}, marks: NewMarker(conn, MarkTable)}, nil
}

// socketBuffer bounds one transaction (and the answers to it): a service
// with 10,000 real servers is about 5 MB of netlink messages, which must
// go in one sendmsg to be one transaction.
const socketBuffer = 32 << 20

// bigBuffers raises the netlink socket's buffers past the sysctl limits
// (the agent runs as root), as nft does for large rulesets.
func bigBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBuffer); serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuffer)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("sizing the netlink socket's buffers: %w", err)
	}
	return nil
}

// Name implements datapath.Datapath.
func (d *Datapath) Name() string { return Name }

// Writes counts the transactions that changed the kernel.
func (d *Datapath) Writes() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writes
}

// kernel is what the table holds now.
type kernel struct {
	exists bool
	chains map[string][]*nftables.Rule
	sets   map[string]*nftables.Set
	elems  map[string]map[uint32]string // map name → slot → chain
	// counters are the named counters: name → connections counted.
	counters map[string]uint64
	// flowtable is the fast path's flowtable, nil when there is none.
	flowtable *nftables.Flowtable
}

func (d *Datapath) read() (*kernel, error) {
	k := newKernel()
	chains, err := d.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("listing nftables chains: %w", err)
	}
	for _, c := range chains {
		if c.Table.Name != TableName {
			continue
		}
		k.exists = true
		rules, err := d.conn.GetRules(d.table, c)
		if err != nil {
			return nil, fmt.Errorf("reading chain %s of table %s: %w", c.Name, TableName, err)
		}
		k.chains[c.Name] = rules
	}
	if !k.exists {
		if tables, err := d.conn.ListTablesOfFamily(nftables.TableFamilyINet); err == nil {
			k.exists = slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == TableName })
		}
		if !k.exists {
			return k, nil
		}
	}
	sets, err := d.conn.GetSets(d.table)
	if err != nil {
		return nil, fmt.Errorf("listing the sets of table %s: %w", TableName, err)
	}
	for _, s := range sets {
		k.sets[s.Name] = s
		if !s.IsMap {
			continue
		}
		elems, err := d.conn.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("reading map %s of table %s: %w", s.Name, TableName, err)
		}
		m := map[uint32]string{}
		for _, e := range elems {
			if len(e.Key) == 4 {
				m[binaryutil.NativeEndian.Uint32(e.Key)] = verdictChain(e.Val)
			}
		}
		k.elems[s.Name] = m
	}
	if k.counters, err = d.counters(); err != nil {
		return nil, err
	}
	if k.flowtable, err = d.readFlowtable(); err != nil {
		return nil, err
	}
	return k, nil
}

func newKernel() *kernel {
	return &kernel{chains: map[string][]*nftables.Rule{}, sets: map[string]*nftables.Set{}, elems: map[string]map[uint32]string{}, counters: map[string]uint64{}}
}

// counters reads the table's named counters.
func (d *Datapath) counters() (map[string]uint64, error) {
	objs, err := d.conn.GetNamedObjects(d.table)
	if err != nil {
		return nil, fmt.Errorf("reading the counters of table %s: %w", TableName, err)
	}
	out := map[string]uint64{}
	for _, o := range objs {
		if no, ok := o.(*nftables.NamedObj); ok && no.Type == nftables.ObjTypeCounter {
			var packets uint64
			if c, ok := no.Obj.(*expr.Counter); ok {
				packets = c.Packets
			}
			out[no.Name] = packets
		}
	}
	return out, nil
}

// verdictChain reads the chain of a verdict map element's data, which the
// library returns undecoded: NFTA_VERDICT_CODE and NFTA_VERDICT_CHAIN.
func verdictChain(b []byte) string {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return ""
	}
	for ad.Next() {
		if ad.Type() == unix.NFTA_VERDICT_CHAIN {
			return ad.String()
		}
	}
	return ""
}

func comment(r *nftables.Rule) string {
	c, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return c
}

// dispatchRules finds each service's dispatch rule in the prerouting chain.
func (k *kernel) dispatchRules() map[string]*nftables.Rule {
	out := map[string]*nftables.Rule{}
	for _, r := range k.chains[preroutingChain] {
		if name, ok := dispatchService(comment(r)); ok {
			out[name] = r
		}
	}
	return out
}

func (k *kernel) chainMatches(c chainSpec) bool {
	rules, ok := k.chains[c.name]
	if !ok || len(rules) != len(c.rules) {
		return false
	}
	for i, r := range rules {
		if comment(r) != c.rules[i].comment {
			return false
		}
	}
	return true
}

func (k *kernel) setMatches(s setSpec) bool {
	ks, ok := k.sets[s.name]
	if !ok || ks.IsMap != s.isMap {
		return false
	}
	if !s.isMap {
		return ks.KeyType.Name == s.keyType.Name && ks.HasTimeout && ks.Timeout.Milliseconds() == s.timeout
	}
	return mapsEqual(k.elems[s.name], s.slots)
}

func mapsEqual(have map[uint32]string, slots []string) bool {
	if len(have) != len(slots) {
		return false
	}
	for i, c := range slots {
		if have[uint32(i)] != c {
			return false
		}
	}
	return true
}

// diff says how the kernel differs from the wanted services: sentences,
// and which services (by name) need writing; stale holds the chains and
// sets no wanted service owns.
type diff struct {
	sentences []string
	services  map[string]bool
	stale     []string // dispatch rules of removed services, by service name
	staleObj  struct{ chains, sets, counters []string }
	// fastPath: the flowtable or the forward chain needs writing.
	fastPath bool
}

func (df diff) empty() bool {
	return len(df.services) == 0 && len(df.stale) == 0 && len(df.staleObj.chains) == 0 && len(df.staleObj.sets) == 0 && len(df.staleObj.counters) == 0 && !df.fastPath
}

func compare(k *kernel, want []serviceSpec, fast *fastPath) diff {
	df := diff{services: map[string]bool{}}
	if !k.exists && len(want) > 0 {
		df.sentences = append(df.sentences, fmt.Sprintf("nftables table inet %s is missing", TableName))
	}
	if _, ok := k.chains[preroutingChain]; k.exists && !ok && len(want) > 0 {
		df.sentences = append(df.sentences, fmt.Sprintf("chain %s of table inet %s is missing", preroutingChain, TableName))
	}
	dispatch := k.dispatchRules()
	// The forward chain belongs to the fast path.
	ownedChains := map[string]bool{preroutingChain: true, forwardChain: true}
	if !k.fastPathMatches(fast) {
		df.fastPath = true
		df.sentences = append(df.sentences, fastPathDrift(k, fast))
	}
	ownedSets := map[string]bool{}
	ownedCounters := map[string]bool{}
	for _, sp := range want {
		changed := func(what string) {
			if k.exists {
				df.sentences = append(df.sentences, fmt.Sprintf("virtual service %q: %s", sp.name, what))
			}
			df.services[sp.name] = true
		}
		if r, ok := dispatch[sp.name]; !ok {
			changed("its rule in chain " + preroutingChain + " is missing")
		} else if comment(r) != sp.dispatch.comment {
			changed("its rule in chain " + preroutingChain + " was changed")
		}
		for _, c := range sp.chains {
			ownedChains[c.name] = true
			if _, ok := k.chains[c.name]; !ok {
				changed("chain " + c.name + " is missing")
			} else if !k.chainMatches(c) {
				changed("the rules of chain " + c.name + " were changed")
			}
		}
		for _, c := range sp.counters {
			ownedCounters[c] = true
			if _, ok := k.counters[c]; !ok {
				changed("counter " + c + " is missing")
			}
		}
		for _, s := range sp.sets {
			ownedSets[s.name] = true
			if _, ok := k.sets[s.name]; !ok {
				changed("set " + s.name + " is missing")
			} else if !k.setMatches(s) {
				changed("set " + s.name + " was changed")
			}
		}
	}
	wanted := map[string]bool{}
	for _, sp := range want {
		wanted[sp.name] = true
	}
	for name := range dispatch {
		if !wanted[name] {
			df.stale = append(df.stale, name)
			df.sentences = append(df.sentences, fmt.Sprintf("virtual service %q is in table %s but not in the spec", name, TableName))
		}
	}
	for c := range k.chains {
		if !ownedChains[c] {
			df.staleObj.chains = append(df.staleObj.chains, c)
			df.sentences = append(df.sentences, fmt.Sprintf("chain %s of table %s belongs to no virtual service", c, TableName))
		}
	}
	for s := range k.sets {
		if !ownedSets[s] {
			df.staleObj.sets = append(df.staleObj.sets, s)
			df.sentences = append(df.sentences, fmt.Sprintf("set %s of table %s belongs to no virtual service", s, TableName))
		}
	}
	for c := range k.counters {
		if !ownedCounters[c] {
			df.staleObj.counters = append(df.staleObj.counters, c)
			df.sentences = append(df.sentences, fmt.Sprintf("counter %s of table %s belongs to no virtual service", c, TableName))
		}
	}
	for _, r := range k.chains[preroutingChain] {
		if _, ok := dispatchService(comment(r)); !ok {
			df.sentences = append(df.sentences, fmt.Sprintf("chain %s of table %s has a rule hactl did not write (handle %d)", preroutingChain, TableName, r.Handle))
			df.stale = append(df.stale, "")
		}
	}
	slices.Sort(df.sentences)
	return df
}

// specs builds the services' objects; offload: with the fast path's
// label on their connections.
func specs(services []datapath.Service, offload bool) ([]serviceSpec, error) {
	var out []serviceSpec
	for _, s := range services {
		if err := Capable(s); err != nil {
			return nil, err
		}
		out = append(out, build(s, offload))
	}
	return out, nil
}

// Drift implements datapath.Datapath. The fast path is compared with what
// the last Sync chose.
func (d *Datapath) Drift(services []datapath.Service) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	want, err := specs(services, d.fast.on())
	if err != nil {
		return []string{err.Error()}
	}
	k, err := d.current()
	if err != nil {
		return []string{err.Error()}
	}
	return append(compare(k, want, d.fast).sentences, d.marks.Drift(services)...)
}

// Sync implements datapath.Datapath: one transaction that rewrites the
// chains, sets and map slots that differ and nothing else; then another
// for the marking rules of the firewall-mark services, when they differ.
func (d *Datapath) Sync(services []datapath.Service) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var fast *fastPath
	if len(services) > 0 {
		fast = d.wantFastPath()
	}
	want, err := specs(services, fast.on())
	if err != nil {
		return 0, err
	}
	changed, err := d.syncTable(services, want, fast)
	if err != nil && fast.on() {
		// The probe passed, yet the kernel may refuse an interface that
		// came since (of a type a flowtable does not take): the services
		// go without the fast path rather than not at all.
		refused := err
		if want, err = specs(services, false); err != nil {
			return 0, err
		}
		if changed, err = d.syncTable(services, want, nil); err == nil {
			d.refused = &refusal{devices: fast.devices, err: fmt.Errorf("the kernel refused the flowtable on %s: %w", strings.Join(fast.devices, ", "), refused)}
			d.fastNote = "off: " + d.refused.err.Error()
		}
	}
	if err != nil {
		return changed, err
	}
	marked, err := d.marks.Sync(services)
	if err != nil {
		return changed, err
	}
	if marked {
		d.writes++
		// The marking chain is rewritten whole.
		for _, s := range services {
			if s.Mark != nil && !d.counted[s.Name] {
				changed++
			}
		}
	}
	return changed, nil
}

// syncTable brings table hactl_lvs in line; d.counted lists the services
// it wrote.
func (d *Datapath) syncTable(services []datapath.Service, want []serviceSpec, fast *fastPath) (int, error) {
	d.counted = map[string]bool{}
	k, err := d.current()
	if err != nil {
		return 0, err
	}
	df := compare(k, want, fast)
	if df.empty() {
		d.fast = fast
		if d.written == nil {
			d.record(want, fast)
		}
		err := d.forget(services, d.sweep(services, time.Now()))
		d.last = slices.Clone(services)
		return 0, err
	}
	c := d.conn
	c.AddTable(d.table)
	pre := &nftables.Chain{Name: preroutingChain, Table: d.table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest}
	c.AddChain(pre)
	if df.fastPath {
		d.writeFastPath(k, fast)
	}
	dispatch := k.dispatchRules()
	// Unhook removed services and foreign rules first, so that their
	// chains are unreferenced when deleted below.
	for _, r := range k.chains[preroutingChain] {
		name, ours := dispatchService(comment(r))
		if !ours || slices.Contains(df.stale, name) {
			if err := c.DelRule(r); err != nil {
				return 0, fmt.Errorf("removing a rule from chain %s: %w", preroutingChain, err)
			}
		}
	}
	for _, name := range df.staleObj.chains {
		c.FlushChain(&nftables.Chain{Name: name, Table: d.table})
	}
	changed := len(df.stale)
	for _, sp := range want {
		if !df.services[sp.name] {
			continue
		}
		changed++
		d.counted[sp.name] = true
		if err := d.writeService(k, sp, dispatch[sp.name], pre); err != nil {
			return 0, err
		}
	}
	// The maps go before the chains their slots jump to.
	for _, name := range df.staleObj.sets {
		c.DelSet(&nftables.Set{Name: name, Table: d.table})
	}
	for _, name := range df.staleObj.chains {
		c.DelChain(&nftables.Chain{Name: name, Table: d.table})
	}
	for _, name := range df.staleObj.counters {
		c.DeleteObject(&nftables.NamedObj{Table: d.table, Name: name, Type: nftables.ObjTypeCounter})
	}
	if err := c.Flush(); err != nil {
		d.written = nil
		return 0, fmt.Errorf("writing table inet %s: %w", TableName, err)
	}
	d.writes++
	d.fast = fast
	d.record(want, fast)
	left := len(departed(d.last, services)) > 0
	err = d.forget(services, d.sweep(services, time.Now()))
	if left && err == nil {
		// A connection scheduled to a departed server just before the
		// commit, and refused after the first sweep, leaves an entry
		// that would catch its port's reuse: sweep once more, a few
		// round trips later.
		time.Sleep(resweepAfter)
		err = d.forget(services, d.sweep(services, time.Now()))
	}
	d.last = slices.Clone(services)
	return changed, err
}

// resweepAfter is the pause before the second sweep of a Sync where a
// real server left.
const resweepAfter = 100 * time.Millisecond

// writeService queues the writes that bring one service's objects in line.
// Chains whose rules already match are left alone, and so are the real
// servers' persistence sets (clients keep their server across updates).
func (d *Datapath) writeService(k *kernel, sp serviceSpec, old *nftables.Rule, pre *nftables.Chain) error {
	c := d.conn
	// Counters and sets first (the rules use them), the chains next (the
	// map's slots jump to them), the map's slots last.
	for _, name := range sp.counters {
		if _, ok := k.counters[name]; !ok {
			c.AddObj(&nftables.NamedObj{Table: d.table, Name: name, Type: nftables.ObjTypeCounter, Obj: &expr.Counter{}})
		}
	}
	var fill []func() error
	added := map[string]uint32{}
	for _, s := range sp.sets {
		set := &nftables.Set{Name: s.name, Table: d.table, KeyType: s.keyType}
		if s.isMap {
			set.IsMap, set.DataType, set.KeyByteOrder = true, nftables.TypeVerdict, binaryutil.NativeEndian
		} else {
			set.HasTimeout, set.Dynamic, set.Timeout = true, true, time.Duration(s.timeout)*time.Millisecond
		}
		have, exists := k.elems[s.name]
		if _, ok := k.sets[s.name]; !ok {
			exists = false
			if err := c.AddSet(set, nil); err != nil {
				return fmt.Errorf("adding set %s: %w", s.name, err)
			}
			added[s.name] = set.ID
		}
		if s.isMap && (!exists || !mapsEqual(have, s.slots)) {
			fill = append(fill, func() error { return updateMap(c, set, have, s.slots) })
		}
	}
	for _, ch := range sp.chains {
		if k.chainMatches(ch) {
			continue
		}
		chain := &nftables.Chain{Name: ch.name, Table: d.table}
		if _, ok := k.chains[ch.name]; ok {
			c.FlushChain(chain)
		} else {
			c.AddChain(chain)
		}
		for _, r := range ch.rules {
			referNew(r.exprs, added)
			c.AddRule(&nftables.Rule{Table: d.table, Chain: chain, Exprs: r.exprs, UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment)})
		}
	}
	for _, f := range fill {
		if err := f(); err != nil {
			return err
		}
	}
	if old != nil && comment(old) == sp.dispatch.comment {
		return nil
	}
	if old != nil {
		if err := c.DelRule(old); err != nil {
			return fmt.Errorf("replacing the rule of virtual service %q: %w", sp.name, err)
		}
	}
	c.AddRule(&nftables.Rule{Table: d.table, Chain: pre, Exprs: sp.dispatch.exprs, UserData: userdata.AppendString(nil, userdata.TypeComment, sp.dispatch.comment)})
	return nil
}

func slotElement(i uint32, chain string) nftables.SetElement {
	return nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(i), VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain}}
}

// referNew points the rules at the sets added in the same transaction by
// their IDs: the kernel does not find those by name until it commits.
func referNew(exprs []expr.Any, added map[string]uint32) {
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Lookup:
			e.SetID = added[e.SetName]
		case *expr.Dynset:
			e.SetID = added[e.SetName]
		}
	}
}

// updateMap rewrites the map's slots in place, within the transaction:
// the packets see the old slots or the new ones, never an empty map. A
// weight change moves many slots anyway (they are laid out by share).
func updateMap(c *nftables.Conn, set *nftables.Set, have map[uint32]string, slots []string) error {
	if len(have) > 0 {
		c.FlushSet(set)
	}
	elems := make([]nftables.SetElement, len(slots))
	for i, ch := range slots {
		elems[i] = slotElement(uint32(i), ch)
	}
	// A netlink attribute holds at most 64 KiB: the elements go in several
	// messages of the same transaction.
	for chunk := range slices.Chunk(elems, elementsPerMessage) {
		if err := c.SetAddElements(set, chunk); err != nil {
			return fmt.Errorf("updating map %s: %w", set.Name, err)
		}
	}
	return nil
}

// elementsPerMessage keeps a message's element list well under 64 KiB
// (a slot with its verdict takes about 60 bytes).
const elementsPerMessage = 512

// Close implements datapath.Datapath: the table goes, and with it every
// service; established connections keep their conntrack NAT.
func (d *Datapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.marks.Close(); err != nil {
		return err
	}
	k, err := d.read()
	if err != nil || !k.exists {
		return err
	}
	d.last, d.written, d.fast = nil, nil, nil
	d.conn.DelTable(d.table)
	if err := d.conn.Flush(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing table inet %s: %w", TableName, err)
	}
	d.writes++
	return nil
}

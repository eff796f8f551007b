package nft

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
)

// The objects one service owns in the table, as kube-proxy's nftables mode
// lays them out: a dispatch rule in the prerouting chain that sends the
// VIP's new connections to the service's chain; the service's chain, which
// sends a persistent client back to its real server and picks one for the
// others through a verdict map (numgen for round robin, jhash for the
// hashing schedulers); and one chain per real server that counts the
// connection, remembers the client for persistence and rewrites the
// destination. Only a connection's first packet passes the nat hook, so an
// established connection keeps its real server whatever the rules become.

// hashSeed is jhash's seed: fixed, so that a client hashes to the same real
// server on both directors and after an agent restart.
const hashSeed = 0x6861_6374

// ruleSpec is one rule the datapath wants, with the comment that identifies
// it: a digest of its expressions, so that comparing comments compares
// content, and a rule replaced by hand (which loses or changes the comment)
// shows.
type ruleSpec struct {
	exprs   []expr.Any
	comment string
}

type chainSpec struct {
	name  string
	rules []ruleSpec
}

// setSpec is a named set: the scheduling verdict map (elements: slot →
// real server's chain) or a persistence set (elements added by the
// packets themselves, with a timeout).
type setSpec struct {
	name    string
	isMap   bool
	keyType nftables.SetDatatype
	timeout int64 // milliseconds; persistence sets only
	slots   []string
}

// serviceSpec is everything one virtual service owns in the table.
type serviceSpec struct {
	name     string
	dispatch ruleSpec
	// chains are in dependency order: the real servers' chains before
	// the service's chain that jumps to them.
	chains []chainSpec
	sets   []setSpec
	// counters are the named counters of the real servers' chains: one
	// dump reads them all (Stats), where a counter in each rule would
	// need a dump per chain.
	counters []string
}

func serviceChain(svc string) string       { return "svc-" + svc }
func backendChain(svc, be string) string   { return "be-" + svc + "-" + be }
func schedMap(svc string) string           { return "sched-" + svc }
func persistSet(svc, be string) string     { return "persist-" + svc + "-" + be }
func connCounter(svc, be string) string    { return "conns-" + svc + "-" + be }
func dispatchComment(svc, d string) string { return "hactl svc=" + svc + " " + d }

// dispatchService returns the service named in a dispatch rule's comment.
func dispatchService(comment string) (string, bool) {
	rest, ok := strings.CutPrefix(comment, "hactl svc=")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, " ")
	return name, true
}

func digest(exprs []expr.Any) string {
	h := sha256.New()
	for _, e := range exprs {
		fmt.Fprintf(h, "%T%+v;", e, e)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func rule(exprs ...expr.Any) ruleSpec {
	return ruleSpec{exprs: exprs, comment: "hactl " + digest(exprs)}
}

// build turns a service into its objects; offload: its real servers'
// chains label the connections for the fast path. It checks nothing the
// datapath's Capable refuses; call that first.
func build(s datapath.Service, offload bool) serviceSpec {
	sp := serviceSpec{name: s.Name}
	v4 := s.Address.Is4()
	persist := s.Persistence > 0
	var live []datapath.Backend
	for _, b := range s.Backends {
		if b.Weight > 0 {
			live = append(live, b)
		}
	}
	var svcRules []ruleSpec
	for _, b := range s.Backends {
		sp.counters = append(sp.counters, connCounter(s.Name, b.Name))
		exprs := []expr.Any{&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: connCounter(s.Name, b.Name)}}
		if offload {
			exprs = append(exprs, labelExprs()...)
		}
		if persist {
			sp.sets = append(sp.sets, setSpec{name: persistSet(s.Name, b.Name), keyType: addrType(v4), timeout: s.Persistence.Milliseconds()})
			exprs = append(exprs, clientKey(v4, s.PersistMask)...)
			exprs = append(exprs, &expr.Dynset{SrcRegKey: 1, SetName: persistSet(s.Name, b.Name), Operation: uint32(unix.NFT_DYNSET_OP_UPDATE)})
		}
		if b.Port == 0 {
			// A firewall-mark service's real server without a port
			// takes each connection on the port it was sent to.
			exprs = append(exprs,
				&expr.Immediate{Register: 1, Data: b.Address.AsSlice()},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: uint32(family(v4)), RegAddrMin: 1},
			)
		} else {
			exprs = append(exprs,
				&expr.Immediate{Register: 1, Data: b.Address.AsSlice()},
				&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(b.Port)},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: uint32(family(v4)), RegAddrMin: 1, RegProtoMin: 2, Specified: true},
			)
		}
		sp.chains = append(sp.chains, chainSpec{name: backendChain(s.Name, b.Name), rules: []ruleSpec{rule(exprs...)}})
		if persist && b.Weight > 0 {
			// A quiescent server takes no new clients, returning ones
			// included: they are scheduled afresh.
			lookup := append(clientKey(v4, s.PersistMask),
				&expr.Lookup{SourceRegister: 1, SetName: persistSet(s.Name, b.Name)},
				&expr.Verdict{Kind: expr.VerdictGoto, Chain: backendChain(s.Name, b.Name)})
			svcRules = append(svcRules, rule(lookup...))
		}
	}
	switch slots := schedule(s.Scheduler, live); {
	case len(slots) == 1:
		svcRules = append(svcRules, rule(&expr.Verdict{Kind: expr.VerdictGoto, Chain: backendChain(s.Name, slots[0])}))
	case len(slots) > 1:
		chains := make([]string, len(slots))
		for i, be := range slots {
			chains[i] = backendChain(s.Name, be)
		}
		sp.sets = append(sp.sets, setSpec{name: schedMap(s.Name), isMap: true, keyType: nftables.TypeInteger, slots: chains})
		var exprs []expr.Any
		switch s.Scheduler {
		case "sh":
			exprs = append(clientKey(v4, s.PersistMask), jhash(v4, len(slots)))
		case "dh":
			exprs = []expr.Any{addrPayload(v4, false), jhash(v4, len(slots))}
		default:
			exprs = []expr.Any{&expr.Numgen{Register: 1, Modulus: uint32(len(slots)), Type: unix.NFT_NG_INCREMENTAL}}
		}
		exprs = append(exprs, &expr.Lookup{SourceRegister: 1, SetName: schedMap(s.Name), IsDestRegSet: true, DestRegister: 0})
		svcRules = append(svcRules, rule(exprs...))
	}
	sp.chains = append(sp.chains, chainSpec{name: serviceChain(s.Name), rules: svcRules})

	match := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{family(v4)}},
		addrPayload(v4, false),
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: s.Address.AsSlice()},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNumber(s.Protocol)}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(s.Port)},
	}
	if s.FWMark != 0 {
		match = markMatch(s)
	}
	match = append(match,
		// Live only where the VIP is: on a director that does not hold
		// it the rule matches nothing, and it acts the instant the VIP
		// comes up (datapath.Kind.LocalOnly). A marked packet must be
		// addressed to this node too.
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		&expr.Verdict{Kind: expr.VerdictGoto, Chain: serviceChain(s.Name)},
	)
	sp.dispatch = ruleSpec{exprs: match, comment: dispatchComment(s.Name, digest(match))}
	return sp
}

// schedule lays out the verdict map's slots: each live real server's
// chain as many times as its share. Round robin gives each one slot;
// the weighted and hashing schedulers give weight/gcd slots, interleaved
// as nginx's smooth weighted round robin does (1:3 is a b b b, 2:1 is a b
// a), so that a short run of connections is spread too.
func schedule(scheduler string, live []datapath.Backend) []string {
	if len(live) == 0 {
		return nil
	}
	shares := make([]int, len(live))
	g := 0
	for i, b := range live {
		shares[i] = b.Weight
		if scheduler == "rr" {
			shares[i] = 1
		}
		g = gcd(g, shares[i])
	}
	total := 0
	for i := range shares {
		shares[i] /= g
		total += shares[i]
	}
	current := make([]int, len(live))
	slots := make([]string, 0, total)
	for range total {
		best := 0
		for i := range live {
			current[i] += shares[i]
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		slots = append(slots, live[best].Name)
	}
	return slots
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func family(v4 bool) byte {
	if v4 {
		return unix.NFPROTO_IPV4
	}
	return unix.NFPROTO_IPV6
}

func addrType(v4 bool) nftables.SetDatatype {
	if v4 {
		return nftables.TypeIPAddr
	}
	return nftables.TypeIP6Addr
}

// addrPayload loads the packet's source or destination address into
// register 1.
func addrPayload(v4, source bool) *expr.Payload {
	if v4 {
		off := uint32(16)
		if source {
			off = 12
		}
		return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}
	}
	off := uint32(24)
	if source {
		off = 8
	}
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 16}
}

// clientKey loads the client's address, masked to the persistence
// netmask, into register 1.
func clientKey(v4 bool, maskBits int) []expr.Any {
	p := addrPayload(v4, true)
	bits := 32
	if !v4 {
		bits = 128
	}
	if maskBits <= 0 || maskBits >= bits {
		return []expr.Any{p}
	}
	mask := make([]byte, bits/8)
	for i := range maskBits {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{p, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: p.Len, Mask: mask, Xor: make([]byte, len(mask))}}
}

func jhash(v4 bool, modulus int) *expr.Hash {
	n := uint32(4)
	if !v4 {
		n = 16
	}
	return &expr.Hash{SourceRegister: 1, DestRegister: 1, Length: n, Modulus: uint32(modulus), Seed: hashSeed, Type: expr.HashTypeJenkins}
}

func protoNumber(p string) byte {
	switch p {
	case "udp":
		return unix.IPPROTO_UDP
	case "sctp":
		return unix.IPPROTO_SCTP
	}
	return unix.IPPROTO_TCP
}

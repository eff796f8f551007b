package ipvs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/cloudflare/ipvs"
	"github.com/google/nftables"
	"github.com/mdlayher/genetlink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
	"github.com/hactl/hactl/agentbin/lvs/nft"
)

func init() {
	datapath.Register(datapath.Kind{
		Name:      Name,
		Available: available,
		Capable:   capable,
		Open: func(env datapath.OpenEnv) (datapath.Datapath, error) {
			opts := Options{SyncInterface: env.SyncInterface}
			if env.StateDir != "" {
				opts.StatePath = filepath.Join(env.StateDir, stateFile)
			}
			return Open(opts)
		},
	})
}

// Name is the datapath's registered name.
const Name = "ipvs"

// DefaultStatePath is where the datapath remembers the services it made
// when the agent gives it no state directory.
const DefaultStatePath = "/run/hactl/" + stateFile

const stateFile = "ipvs-services.json"

// MarkTable is the nftables table where the datapath marks the packets of
// its firewall-mark services.
const MarkTable = "hactl_ipvs_mark"

// available says whether the kernel has IPVS, loading the module if it
// can.
func available() error {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		return nil
	}
	out, err := exec.Command("modprobe", "ip_vs").CombinedOutput()
	if _, serr := os.Stat("/proc/net/ip_vs"); serr == nil {
		return nil
	}
	why := "modprobe ip_vs: " + strings.TrimSpace(string(out))
	if err != nil && len(out) == 0 {
		why = "modprobe ip_vs: " + err.Error()
	}
	return fmt.Errorf("this kernel has no IPVS (/proc/net/ip_vs is missing; %s)", why)
}

// kernel is the part of IPVS's netlink interface the datapath uses;
// ipvs.Client has it, and the tests record it.
type kernel interface {
	Services() ([]ipvs.ServiceExtended, error)
	Destinations(ipvs.Service) ([]ipvs.DestinationExtended, error)
	CreateService(ipvs.Service) error
	UpdateService(ipvs.Service) error
	RemoveService(ipvs.Service) error
	CreateDestination(ipvs.Service, ipvs.Destination) error
	UpdateDestination(ipvs.Service, ipvs.Destination) error
	RemoveDestination(ipvs.Service, ipvs.Destination) error
}

// Options tune Open.
type Options struct {
	// StatePath is the file listing the services this datapath made
	// (DefaultStatePath when empty).
	StatePath string
	// SyncInterface carries the connection-sync multicast. When empty,
	// the interface routed towards the real servers is used.
	SyncInterface string
	// SyncID tells this cluster's sync messages from others' on the
	// same network (0: accept all).
	SyncID uint32
}

// Datapath is the IPVS datapath. Its netlink sockets belong to the network
// namespace of the thread that opened it.
type Datapath struct {
	k      kernel
	sd     syncDaemons
	routes func(netip.Addr) (string, error)
	opts   Options
	closer func() error
	// marks marks the packets of the firewall-mark services; nil when
	// the kernel's nftables could not be reached (marksErr says why).
	marks    *nft.Marker
	marksErr error

	mu sync.Mutex
	// owned maps the keys of the services this datapath made to their
	// names.
	owned map[string]string
	// last holds the services of the last Sync, by key (for Stats' names).
	last map[string]virtual
	// pending is the sync-daemon role waiting for an interface.
	pending *bool
	// towards is a real server seen in any Sync: the sync daemon's
	// interface is the one routed to it.
	towards netip.Addr
}

var (
	_ datapath.Datapath   = (*Datapath)(nil)
	_ datapath.ConnSyncer = (*Datapath)(nil)
)

// Open connects to the kernel's IPVS in the calling thread's network
// namespace.
func Open(opts Options) (*Datapath, error) {
	client, err := ipvs.New()
	if err != nil {
		return nil, fmt.Errorf("opening IPVS over netlink (is the ip_vs module loaded?): %w", err)
	}
	gc, err := genetlink.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("opening generic netlink: %w", err)
	}
	dc, err := newDaemonConn(gc)
	if err != nil {
		gc.Close()
		return nil, err
	}
	// Route only: the other families (xfrm) may lack their module.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		gc.Close()
		return nil, fmt.Errorf("opening rtnetlink: %w", err)
	}
	d, err := newDatapath(client, dc, routeIface(h), opts)
	if err != nil {
		gc.Close()
		h.Close()
		return nil, err
	}
	// Lasting: the socket stays in this thread's network namespace,
	// as the IPVS ones do.
	nc, err := nftables.New(nftables.AsLasting())
	if err != nil {
		d.marksErr = fmt.Errorf("connecting to nftables: %w", err)
	} else {
		d.marks = nft.NewMarker(nc, MarkTable)
	}
	d.closer = func() error {
		h.Close()
		if nc != nil {
			_ = nc.CloseLasting()
		}
		if c, ok := client.(io.Closer); ok {
			c.Close()
		}
		return gc.Close()
	}
	return d, nil
}

func newDatapath(k kernel, sd syncDaemons, routes func(netip.Addr) (string, error), opts Options) (*Datapath, error) {
	if opts.StatePath == "" {
		opts.StatePath = DefaultStatePath
	}
	d := &Datapath{k: k, sd: sd, routes: routes, opts: opts, owned: map[string]string{}, last: map[string]virtual{}}
	data, err := os.ReadFile(opts.StatePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading the IPVS datapath's state: %w", err)
	default:
		if err := json.Unmarshal(data, &d.owned); err != nil {
			return nil, fmt.Errorf("reading the IPVS datapath's state %s: %w (remove the file: the services it lists will then be left alone)", opts.StatePath, err)
		}
	}
	return d, nil
}

// routeIface names the interface the kernel routes an address through.
func routeIface(h *netlink.Handle) func(netip.Addr) (string, error) {
	return func(a netip.Addr) (string, error) {
		routes, err := h.RouteGet(net.IP(a.AsSlice()))
		if err != nil || len(routes) == 0 {
			return "", fmt.Errorf("no route to %s: %v", a, err)
		}
		l, err := h.LinkByIndex(routes[0].LinkIndex)
		if err != nil {
			return "", err
		}
		return l.Attrs().Name, nil
	}
}

// Name is "ipvs".
func (d *Datapath) Name() string { return Name }

// wanted converts and checks the role's services.
func wanted(services []datapath.Service) ([]virtual, error) {
	var out []virtual
	byKey := map[string]string{}
	for _, s := range services {
		v, err := toVirtual(s)
		if err != nil {
			return nil, err
		}
		key := serviceKey(v.svc)
		if other, dup := byKey[key]; dup {
			return nil, fmt.Errorf("virtual services %s and %s are both %s", other, s.Name, key)
		}
		byKey[key] = s.Name
		out = append(out, v)
	}
	return out, nil
}

// current reads the kernel's services: all of them, with the
// destinations of those in want.
func (d *Datapath) current(want []virtual) (map[string]current, error) {
	svcs, err := d.k.Services()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("listing IPVS services: %w", err)
	}
	wantKeys := map[string]bool{}
	for _, v := range want {
		wantKeys[serviceKey(v.svc)] = true
	}
	cur := map[string]current{}
	for _, s := range svcs {
		key := serviceKey(s.Service)
		c := current{svc: s.Service}
		if wantKeys[key] {
			dests, err := d.k.Destinations(s.Service)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("listing the real servers of IPVS service %s: %w", key, err)
			}
			c.dests = dests
		}
		cur[key] = c
	}
	return cur, nil
}

func (d *Datapath) ownedKeys() map[string]bool {
	keys := map[string]bool{}
	for k := range d.owned {
		keys[k] = true
	}
	return keys
}

// Sync makes IPVS forward exactly these services, as datapath.Datapath
// says, sending only the commands that change something.
func (d *Datapath) Sync(services []datapath.Service) (int, error) {
	want, err := wanted(services)
	if err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, err := d.current(want)
	if err != nil {
		return 0, err
	}
	ops := diff(want, cur, d.ownedKeys())
	touched := map[string]bool{}
	for _, o := range ops {
		touched[serviceKey(o.svc)] = true
		if err := d.apply(o); err != nil {
			d.remember(want, ops)
			return len(touched), fmt.Errorf("%s: %w", o.why, err)
		}
	}
	d.remember(want, ops)
	if err := d.saveOwned(); err != nil {
		return len(touched), err
	}
	if marked, err := d.syncMarks(services); err != nil {
		return len(touched), err
	} else if marked {
		// The marking chain is rewritten whole.
		for i, s := range services {
			if s.Mark != nil {
				touched[serviceKey(want[i].svc)] = true
			}
		}
	}
	if _, err := d.syncIface(); d.pending != nil && err == nil {
		if err := d.setMaster(*d.pending); err != nil {
			return len(touched), err
		}
	}
	return len(touched), nil
}

// syncMarks writes the rules that mark the firewall-mark services'
// packets, when they differ.
func (d *Datapath) syncMarks(services []datapath.Service) (bool, error) {
	if ok, err := d.syncMarksPossible(services); !ok {
		return false, err
	}
	return d.marks.Sync(services)
}

// syncMarksPossible says whether the marks can be written, and why not
// when some service wants them.
func (d *Datapath) syncMarksPossible(services []datapath.Service) (bool, error) {
	if d.marks != nil {
		return true, nil
	}
	if d.marksErr != nil && slices.ContainsFunc(services, func(s datapath.Service) bool { return s.Mark != nil }) {
		return false, fmt.Errorf("the packets of the firewall-mark services cannot be marked: %w", d.marksErr)
	}
	return false, nil
}

// remember records which services are ours now: the wanted ones, less the
// removed ones.
func (d *Datapath) remember(want []virtual, ops []op) {
	d.last = map[string]virtual{}
	for _, v := range want {
		key := serviceKey(v.svc)
		d.owned[key] = v.name
		d.last[key] = v
		if len(v.dests) > 0 {
			d.towards = v.dests[0].dest.Address
		}
	}
	for _, o := range ops {
		if o.kind == removeService {
			delete(d.owned, serviceKey(o.svc))
		}
	}
}

func (d *Datapath) apply(o op) error {
	switch o.kind {
	case createService:
		return d.k.CreateService(o.svc)
	case updateService:
		return d.k.UpdateService(o.svc)
	case removeService:
		return d.k.RemoveService(o.svc)
	case createDest:
		return d.k.CreateDestination(o.svc, o.dest)
	case updateDest:
		return d.k.UpdateDestination(o.svc, o.dest)
	case removeDest:
		return d.k.RemoveDestination(o.svc, o.dest)
	}
	return fmt.Errorf("unknown operation %v", o.kind)
}

// saveOwned writes the list of our services, atomically.
func (d *Datapath) saveOwned() error {
	data, err := json.Marshal(d.owned)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(d.opts.StatePath); err == nil && string(old) == string(data) {
		return nil
	}
	dir := filepath.Dir(d.opts.StatePath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving the IPVS datapath's state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".ipvs-services-*")
	if err != nil {
		return fmt.Errorf("saving the IPVS datapath's state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the IPVS datapath's state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving the IPVS datapath's state: %w", err)
	}
	if err := os.Rename(tmp.Name(), d.opts.StatePath); err != nil {
		return fmt.Errorf("saving the IPVS datapath's state: %w", err)
	}
	return nil
}

// Drift says how IPVS differs from these services, changing nothing.
func (d *Datapath) Drift(services []datapath.Service) []string {
	want, err := wanted(services)
	if err != nil {
		return []string{err.Error()}
	}
	d.mu.Lock()
	owned := d.ownedKeys()
	d.mu.Unlock()
	cur, err := d.current(want)
	if err != nil {
		return []string{fmt.Sprintf("IPVS cannot be read: %v", err)}
	}
	var out []string
	for _, o := range diff(want, cur, owned) {
		out = append(out, o.why)
	}
	if d.marks != nil {
		out = append(out, d.marks.Drift(services)...)
	} else if _, err := d.syncMarksPossible(services); err != nil {
		out = append(out, err.Error())
	}
	d.mu.Lock()
	if d.pending != nil {
		out = append(out, fmt.Sprintf("the IPVS %s sync daemon is not running: %v", stateName(daemonState(*d.pending)), errNoSyncIface))
	}
	d.mu.Unlock()
	return out
}

// Stats reads the counters of the services of the last Sync.
func (d *Datapath) Stats() ([]datapath.ServiceStats, error) {
	d.mu.Lock()
	last := make(map[string]virtual, len(d.last))
	for k, v := range d.last {
		last[k] = v
	}
	d.mu.Unlock()
	svcs, err := d.k.Services()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("listing IPVS services: %w", err)
	}
	var out []datapath.ServiceStats
	for _, s := range svcs {
		v, ok := last[serviceKey(s.Service)]
		if !ok {
			continue
		}
		dests, err := d.k.Destinations(s.Service)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("listing the real servers of %s: %w", v.name, err)
		}
		names := map[string]string{}
		for _, r := range v.dests {
			names[destKey(r.dest)] = r.name
		}
		st := datapath.ServiceStats{Name: v.name}
		for _, dst := range dests {
			name, ok := names[destKey(dst.Destination)]
			if !ok {
				name = destKey(dst.Destination)
			}
			st.Backends = append(st.Backends, datapath.BackendStats{
				Name:        name,
				ActiveConns: int64(dst.ActiveConnections),
				Conns:       int64(dst.Stats64.Connections),
				Bytes:       int64(dst.Stats64.IncomingBytes + dst.Stats64.OutgoingBytes),
				Packets:     int64(dst.Stats64.IncomingPackets + dst.Stats64.OutgoingPackets),
			})
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Close removes the services this datapath made and stops the sync
// daemons, then closes the netlink sockets.
func (d *Datapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, err := d.current(nil)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, o := range diff(nil, cur, d.ownedKeys()) {
		if err := d.apply(o); err != nil {
			errs = append(errs, fmt.Errorf("removing IPVS service %s: %w", serviceKey(o.svc), err))
		}
	}
	if len(errs) == 0 {
		d.owned = map[string]string{}
		d.last = map[string]virtual{}
		errs = append(errs, d.saveOwned())
	}
	if d.marks != nil {
		errs = append(errs, d.marks.Close())
	}
	d.pending = nil
	if running, err := d.sd.daemons(); err != nil {
		errs = append(errs, err)
	} else {
		for _, dm := range running {
			errs = append(errs, d.sd.stop(dm.State))
		}
	}
	if d.closer != nil {
		errs = append(errs, d.closer())
	}
	return errors.Join(errs...)
}

// SetMaster runs the kernel's master sync daemon (master) or its backup
// daemon, and stops the other. When no interface is known yet (none
// configured and no real server seen to route to: a standby is given no
// services), the daemon starts at the first Sync that names one; until
// then Drift says so.
func (d *Datapath) SetMaster(master bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.syncIface(); errors.Is(err, errNoSyncIface) {
		d.pending = &master
		return nil
	}
	return d.setMaster(master)
}

var errNoSyncIface = errors.New("no interface for the IPVS sync daemon yet: none is configured and no real server is known to route to")

func (d *Datapath) setMaster(master bool) error {
	iface, err := d.syncIface()
	if err != nil {
		d.pending = &master
		return err
	}
	d.pending = nil
	want := daemon{State: daemonState(master), Iface: iface, SyncID: d.opts.SyncID}
	running, err := d.sd.daemons()
	if err != nil {
		return err
	}
	found := false
	for _, dm := range running {
		if dm == want {
			found = true
			continue
		}
		if err := d.sd.stop(dm.State); err != nil {
			return err
		}
	}
	if found {
		return nil
	}
	return d.sd.start(want)
}

// syncIface is the configured sync interface, else the one routed
// towards a real server seen (the directors share the real servers'
// network in every forwarding method).
func (d *Datapath) syncIface() (string, error) {
	if d.opts.SyncInterface != "" {
		return d.opts.SyncInterface, nil
	}
	if d.towards.IsValid() {
		return d.routes(d.towards)
	}
	return "", errNoSyncIface
}

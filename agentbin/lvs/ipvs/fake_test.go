package ipvs

import (
	"fmt"
	"net/netip"
	"os"
	"sort"

	"github.com/cloudflare/ipvs"
)

// fakeKernel is IPVS as a map: it applies the datapath's commands to its
// state as the kernel would, and records them.
type fakeKernel struct {
	svcs  map[string]*fakeService
	calls []string
	// fail makes the command with this record fail.
	fail string
}

type fakeService struct {
	svc   ipvs.Service
	dests []ipvs.DestinationExtended
}

func newFakeKernel() *fakeKernel { return &fakeKernel{svcs: map[string]*fakeService{}} }

// record is how a command shows in calls.
func record(kind opKind, s ipvs.Service, d *ipvs.Destination) string {
	out := fmt.Sprintf("%s %s", kind, serviceKey(s))
	switch kind {
	case createService, updateService:
		out += fmt.Sprintf(" %s flags=%#x timeout=%d mask=%v", s.Scheduler, uint32(s.Flags), s.Timeout, s.Netmask)
	}
	if d != nil {
		out += " " + destKey(*d)
		if kind != removeDest {
			out += fmt.Sprintf(" %s w=%d", d.FwdMethod, d.Weight)
		}
	}
	return out
}

func (f *fakeKernel) call(rec string) error {
	f.calls = append(f.calls, rec)
	if rec == f.fail {
		return fmt.Errorf("injected failure")
	}
	return nil
}

func (f *fakeKernel) Services() ([]ipvs.ServiceExtended, error) {
	if len(f.svcs) == 0 {
		// As cloudflare/ipvs says "none".
		return nil, os.ErrNotExist
	}
	keys := make([]string, 0, len(f.svcs))
	for k := range f.svcs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []ipvs.ServiceExtended
	for _, k := range keys {
		s := f.svcs[k].svc
		s.Flags |= ipvs.ServiceHashed
		out = append(out, ipvs.ServiceExtended{Service: s})
	}
	return out, nil
}

func (f *fakeKernel) get(s ipvs.Service) (*fakeService, error) {
	fs, ok := f.svcs[serviceKey(s)]
	if !ok {
		return nil, fmt.Errorf("no such service %s", serviceKey(s))
	}
	return fs, nil
}

func (f *fakeKernel) Destinations(s ipvs.Service) ([]ipvs.DestinationExtended, error) {
	fs, err := f.get(s)
	if err != nil {
		return nil, err
	}
	if len(fs.dests) == 0 {
		return nil, os.ErrNotExist
	}
	return append([]ipvs.DestinationExtended(nil), fs.dests...), nil
}

func (f *fakeKernel) CreateService(s ipvs.Service) error {
	if err := f.call(record(createService, s, nil)); err != nil {
		return err
	}
	f.svcs[serviceKey(s)] = &fakeService{svc: s}
	return nil
}

func (f *fakeKernel) UpdateService(s ipvs.Service) error {
	if err := f.call(record(updateService, s, nil)); err != nil {
		return err
	}
	fs, err := f.get(s)
	if err == nil {
		fs.svc = s
	}
	return err
}

func (f *fakeKernel) RemoveService(s ipvs.Service) error {
	if err := f.call(record(removeService, s, nil)); err != nil {
		return err
	}
	delete(f.svcs, serviceKey(s))
	return nil
}

func (f *fakeKernel) CreateDestination(s ipvs.Service, d ipvs.Destination) error {
	if err := f.call(record(createDest, s, &d)); err != nil {
		return err
	}
	fs, err := f.get(s)
	if err == nil {
		fs.dests = append(fs.dests, ipvs.DestinationExtended{Destination: d, ActiveConnections: 1})
	}
	return err
}

// dest finds a service's destination, as the kernel looks it up.
func (f *fakeKernel) dest(rec string, s ipvs.Service, d ipvs.Destination) (*fakeService, int, error) {
	if err := f.call(rec); err != nil {
		return nil, 0, err
	}
	fs, err := f.get(s)
	if err != nil {
		return nil, 0, err
	}
	for i := range fs.dests {
		if destKey(fs.dests[i].Destination) == destKey(d) {
			return fs, i, nil
		}
	}
	return nil, 0, fmt.Errorf("no such destination %s", destKey(d))
}

func (f *fakeKernel) UpdateDestination(s ipvs.Service, d ipvs.Destination) error {
	fs, i, err := f.dest(record(updateDest, s, &d), s, d)
	if err == nil {
		fs.dests[i].Destination = d
	}
	return err
}

func (f *fakeKernel) RemoveDestination(s ipvs.Service, d ipvs.Destination) error {
	fs, i, err := f.dest(record(removeDest, s, &d), s, d)
	if err == nil {
		fs.dests = append(fs.dests[:i], fs.dests[i+1:]...)
	}
	return err
}

// fakeDaemons is the kernel's sync daemons.
type fakeDaemons struct {
	running []daemon
	calls   []string
}

func (f *fakeDaemons) daemons() ([]daemon, error) { return append([]daemon(nil), f.running...), nil }

func (f *fakeDaemons) start(d daemon) error {
	f.calls = append(f.calls, fmt.Sprintf("start %s %s id=%d", stateName(d.State), d.Iface, d.SyncID))
	f.running = append(f.running, d)
	return nil
}

func (f *fakeDaemons) stop(state uint32) error {
	f.calls = append(f.calls, "stop "+stateName(state))
	for i, d := range f.running {
		if d.State == state {
			f.running = append(f.running[:i], f.running[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("no %s daemon", stateName(state))
}

// routesVia routes every address through one interface.
func routesVia(iface string) func(netip.Addr) (string, error) {
	return func(netip.Addr) (string, error) { return iface, nil }
}

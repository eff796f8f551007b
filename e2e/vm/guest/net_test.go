package guest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// inNS runs fn on a thread in the network namespace ns. Sockets made
// there stay in ns: a listener or a netlink socket opened in fn may be
// used from any goroutine afterwards.
func inNS(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return err
	}
	defer netns.Set(orig) //nolint:errcheck // the thread is locked and dropped if this fails
	return fn()
}

// host is one namespace of the scenario.
type host struct {
	name string
	ns   netns.NsHandle
	h    *netlink.Handle
}

// link is a host's interface on one of the VM's bridges.
type link struct {
	bridge, ifname string
	addrs          []string
}

func newHost(t *testing.T, name string, links []link, gateway string) *host {
	t.Helper()
	var ns netns.NsHandle
	err := func() error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if ns, err = netns.New(); err != nil {
			return err
		}
		return netns.Set(orig)
	}()
	if err != nil {
		t.Fatalf("making namespace %s: %v", name, err)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("rtnetlink in %s: %v", name, err)
	}
	hst := &host{name: name, ns: ns, h: h}
	t.Cleanup(func() {
		h.Close()
		ns.Close()
	})
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		br, err := netlink.LinkByName(l.bridge)
		if err != nil {
			t.Fatal(err)
		}
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name + "-" + l.ifname, MasterIndex: br.Attrs().Index}, PeerName: l.ifname, PeerNamespace: netlink.NsFd(ns)}
		if err := netlink.LinkAdd(veth); err != nil {
			t.Fatalf("veth %s: %v", veth.Name, err)
		}
		outer, err := netlink.LinkByName(veth.Name)
		if err != nil {
			t.Fatal(err)
		}
		// The pair goes with its outer end at once; the namespace's
		// own teardown is asynchronous.
		t.Cleanup(func() { _ = netlink.LinkDel(outer) })
		if err := netlink.LinkSetUp(outer); err != nil {
			t.Fatal(err)
		}
		inner, err := h.LinkByName(l.ifname)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range l.addrs {
			hst.addAddr(t, l.ifname, a)
		}
		if err := h.LinkSetUp(inner); err != nil {
			t.Fatal(err)
		}
	}
	if gateway != "" {
		if err := h.RouteAdd(&netlink.Route{Gw: net.ParseIP(gateway)}); err != nil {
			t.Fatalf("%s: default route via %s: %v", name, gateway, err)
		}
	}
	return hst
}

func (hst *host) addAddr(t *testing.T, ifname, cidr string) {
	t.Helper()
	l, err := hst.h.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err == nil {
		err = hst.h.AddrAdd(l, a)
	}
	if err != nil {
		t.Fatalf("%s: adding %s to %s: %v", hst.name, cidr, ifname, err)
	}
}

func (hst *host) delAddr(t *testing.T, ifname, cidr string) {
	t.Helper()
	l, err := hst.h.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err == nil {
		err = hst.h.AddrDel(l, a)
	}
	if err != nil {
		t.Fatalf("%s: removing %s from %s: %v", hst.name, cidr, ifname, err)
	}
}

// flushNeighbours forgets the host's ARP entries, as a gratuitous ARP
// from the new director would correct them.
func (hst *host) flushNeighbours(t *testing.T) {
	t.Helper()
	neighs, err := hst.h.NeighList(0, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range neighs {
		_ = hst.h.NeighDel(&n)
	}
}

func (hst *host) sysctl(t *testing.T, path, value string) {
	t.Helper()
	if err := inNS(hst.ns, func() error { return os.WriteFile("/proc/sys/"+path, []byte(value), 0o644) }); err != nil {
		t.Fatalf("%s: sysctl %s=%s: %v", hst.name, path, value, err)
	}
}

// serveName starts an HTTP server on port 80 of the host that answers
// with the host's name.
func (hst *host) serveName(t *testing.T) {
	t.Helper()
	var ln net.Listener
	if err := inNS(hst.ns, func() (err error) { ln, err = net.Listen("tcp", ":80"); return err }); err != nil {
		t.Fatalf("%s: listening on :80: %v", hst.name, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, hst.name)
	})}
	go srv.Serve(ln) //nolint:errcheck // ends with the VM
	t.Cleanup(func() { srv.Close() })
}

// dial opens a TCP connection from the host.
func (hst *host) dial(addr string) (net.Conn, error) {
	var c net.Conn
	err := inNS(hst.ns, func() (err error) { c, err = net.Dial("tcp", addr); return err })
	return c, err
}

func bridge(t *testing.T, name string) {
	t.Helper()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatalf("bridge %s: %v", name, err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(br) })
	if err := netlink.LinkSetUp(br); err != nil {
		t.Fatal(err)
	}
}

package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// createNetns creates a named network namespace, mounted under /run/netns
// like `ip netns add` does.
func createNetns(name string) error {
	return onThread(func() error {
		h, err := netns.NewNamed(name)
		if err != nil {
			return fmt.Errorf("creating network namespace %s: %w", name, err)
		}
		return h.Close()
	})
}

// onThread runs fn locked to one OS thread, which fn may move to another
// network namespace; the thread is moved back afterwards.
func onThread(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("getting the current network namespace: %w", err)
	}
	defer orig.Close()
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread is in the wrong namespace: keep it locked so that it
		// dies with the goroutine instead of running other code.
		return fmt.Errorf("returning to the original network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// deleteNetns unmounts and removes a named network namespace. A missing
// one is not an error.
func deleteNetns(name string) error {
	p := netnsPath(name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", p, err)
	}
	return nil
}

// inNetns runs fn on a thread that is in the named network namespace.
// Sockets fn creates belong to that namespace.
func inNetns(name string, fn func() error) error {
	target, err := netns.GetFromPath(netnsPath(name))
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", name, err)
	}
	defer target.Close()
	return onThread(func() error {
		if err := netns.Set(target); err != nil {
			return fmt.Errorf("entering network namespace %s: %w", name, err)
		}
		return fn()
	})
}

// handleAt returns a netlink handle working in the named network namespace.
func handleAt(name string) (*netlink.Handle, error) {
	ns, err := netns.GetFromPath(netnsPath(name))
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in namespace %s: %w", name, err)
	}
	return h, nil
}

// wire builds the lab's networks: bridges in the switch namespace, and
// one veth per interface of every node, ctl and client.
func wire(st *state) error {
	sw, err := handleAt(st.Switch)
	if err != nil {
		return err
	}
	defer sw.Close()
	if err := linkUp(sw, "lo"); err != nil {
		return err
	}
	bridges := map[string]int{}
	off := false
	for _, n := range st.Networks {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge, Flags: net.FlagUp}, MulticastSnooping: &off}
		if err := sw.LinkAdd(br); err != nil {
			return fmt.Errorf("network %s: adding bridge %s: %w", n.Name, n.Bridge, err)
		}
		l, err := sw.LinkByName(n.Bridge)
		if err != nil {
			return fmt.Errorf("network %s: finding bridge %s: %w", n.Name, n.Bridge, err)
		}
		bridges[n.Name] = l.Attrs().Index
	}
	members := []*nsState{st.Ctl, st.Client}
	for _, n := range st.Nodes {
		members = append(members, &n.nsState)
	}
	for _, m := range members {
		if err := attach(sw, m, bridges); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return nil
}

// attach gives a namespace its interfaces, each a veth whose other end is a
// port of its network's bridge.
func attach(sw *netlink.Handle, m *nsState, bridges map[string]int) error {
	target, err := netns.GetFromPath(netnsPath(m.Netns))
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", m.Netns, err)
	}
	defer target.Close()
	h, err := netlink.NewHandleAt(target)
	if err != nil {
		return fmt.Errorf("netlink in namespace %s: %w", m.Netns, err)
	}
	defer h.Close()
	if err := linkUp(h, "lo"); err != nil {
		return err
	}
	for _, ifc := range m.Ifaces {
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: ifc.Port, MasterIndex: bridges[ifc.Network], Flags: net.FlagUp},
			PeerName:      ifc.Name,
			PeerNamespace: netlink.NsFd(target),
		}
		if err := sw.LinkAdd(veth); err != nil {
			return fmt.Errorf("adding %s (bridge port %s): %w", ifc.Name, ifc.Port, err)
		}
		l, err := h.LinkByName(ifc.Name)
		if err != nil {
			return fmt.Errorf("finding %s: %w", ifc.Name, err)
		}
		if err := h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: ifc.Address.Addr().AsSlice(), Mask: net.CIDRMask(ifc.Address.Bits(), ifc.Address.Addr().BitLen())}}); err != nil {
			return fmt.Errorf("adding %s to %s: %w", ifc.Address, ifc.Name, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("setting %s up: %w", ifc.Name, err)
		}
	}
	return nil
}

// linkUp sets a link up by name.
func linkUp(h *netlink.Handle, name string) error {
	return setLink(h, name, true)
}

// setLink sets a link up or down by name.
func setLink(h *netlink.Handle, name string, up bool) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("finding link %s: %w", name, err)
	}
	if up {
		err = h.LinkSetUp(l)
	} else {
		err = h.LinkSetDown(l)
	}
	if err != nil {
		return fmt.Errorf("setting link %s up=%t: %w", name, up, err)
	}
	return nil
}

package lab

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// change runs fn on the freshest state under the lab lock and saves the
// state fn leaves: several `hactl lab` commands may act on one lab.
func (l *Lab) change(fn func(st *state) error) error {
	unlock, err := lockLab()
	if err != nil {
		return err
	}
	defer unlock()
	st, err := loadState(l.st.Name)
	if err != nil {
		return err
	}
	l.st = st
	if err := fn(st); err != nil {
		return err
	}
	return saveState(st)
}

// Cut pulls a node's cable: the switch's end of the link goes down, so
// the node's interface loses carrier — its kernel forgets the link's ARP
// entries and discards what it sends — while its peers hear silence. The
// node keeps its addresses. An empty iface cuts every link of the node.
func (l *Lab) Cut(node, iface string) error {
	return l.setLinks(node, iface, false)
}

// CutPort kills the switch port of a node's link: the switch drops every
// frame through it, both ways, and carrier stays up at both ends. The
// node, like its peers, only hears silence, and its ARP requests go
// unanswered: a dead switch port, or a cable cut beyond a second switch.
// An empty iface kills the ports of every link of the node. Heal and
// HealAll end it.
func (l *Lab) CutPort(ctx context.Context, node, iface string) error {
	return l.change(func(st *state) error {
		ports, err := st.ports(node, iface)
		if err != nil {
			return err
		}
		for _, p := range ports {
			if !slices.Contains(st.Faults.DeadPorts, p) {
				st.Faults.DeadPorts = append(st.Faults.DeadPorts, p)
			}
		}
		return applyFilter(ctx, st)
	})
}

// Heal undoes Cut and CutPort. An empty iface heals every link of the
// node.
func (l *Lab) Heal(node, iface string) error {
	return l.setLinks(node, iface, true)
}

// setLinks cuts or heals links; healing also revives their dead switch
// ports. Healing the link of a node that is powered off only plugs the
// cable back: the link comes up when the node boots.
func (l *Lab) setLinks(node, iface string, up bool) error {
	return l.change(func(st *state) error {
		ports, err := st.ports(node, iface)
		if err != nil {
			return err
		}
		n, err := st.node(node)
		if err != nil {
			return err
		}
		if err := setPorts(st, ports, up && !n.Off); err != nil {
			return err
		}
		dead := len(st.Faults.DeadPorts)
		for _, p := range ports {
			st.Faults.Cut = slices.DeleteFunc(st.Faults.Cut, func(c string) bool { return c == p })
			if !up {
				st.Faults.Cut = append(st.Faults.Cut, p)
			} else {
				st.Faults.DeadPorts = slices.DeleteFunc(st.Faults.DeadPorts, func(c string) bool { return c == p })
			}
		}
		if len(st.Faults.DeadPorts) != dead {
			return applyFilter(context.Background(), st)
		}
		return nil
	})
}

// HealAll heals every network fault: cut links, dead ports, partitions
// and loss. The
// links of a node that is powered off come up when it boots.
func (l *Lab) HealAll(ctx context.Context) error {
	return l.change(func(st *state) error {
		sw, err := handleAt(st.Switch)
		if err != nil {
			return err
		}
		defer sw.Close()
		off := map[string]bool{}
		for _, n := range st.Nodes {
			for _, ifc := range n.Ifaces {
				off[ifc.Port] = n.Off
			}
		}
		for _, p := range st.Faults.Cut {
			if err := setLink(sw, p, !off[p]); err != nil {
				return err
			}
		}
		st.Faults.Cut = nil
		if st.Faults.LossBy == lossNetem {
			for port := range st.Faults.Loss {
				if err := l.netem(st, port, 0); err != nil {
					return err
				}
			}
		}
		st.Faults.Loss, st.Faults.LossBy, st.Faults.Partition, st.Faults.DeadPorts = nil, "", nil, nil
		return applyFilter(ctx, st)
	})
}

// Partition splits the nodes into groups that cannot reach each other;
// each group still reaches itself, ctl and client, and nodes in no group
// reach everyone. It replaces any previous partition; HealAll ends it.
func (l *Lab) Partition(ctx context.Context, groups [][]string) error {
	if len(groups) < 2 {
		return errors.New("a partition needs at least two groups of nodes")
	}
	return l.change(func(st *state) error {
		seen := map[string]bool{}
		for _, g := range groups {
			if len(g) == 0 {
				return errors.New("a partition group is empty")
			}
			for _, n := range g {
				if _, err := st.node(n); err != nil {
					return err
				}
				if seen[n] {
					return fmt.Errorf("node %s is in two partition groups", n)
				}
				seen[n] = true
			}
		}
		st.Faults.Partition = groups
		return applyFilter(ctx, st)
	})
}

// Ways of dropping packets for Loss.
const (
	lossNetem    = "netem"
	lossNftables = "nftables"
)

// Loss drops percent of the packets each way on a node's link (every link
// when iface is empty); 0 ends it. It uses netem when the kernel has
// sch_netem, else an nftables filter in the switch, and returns a sentence
// saying which.
func (l *Lab) Loss(ctx context.Context, node, iface string, percent int) (string, error) {
	if percent < 0 || percent > 100 {
		return "", fmt.Errorf("loss %d%%: give a percentage from 0 to 100", percent)
	}
	var how string
	err := l.change(func(st *state) error {
		ports, err := st.ports(node, iface)
		if err != nil {
			return err
		}
		if st.Faults.Loss == nil {
			st.Faults.Loss = map[string]int{}
		}
		for _, p := range ports {
			if percent == 0 {
				delete(st.Faults.Loss, p)
			} else {
				st.Faults.Loss[p] = percent
			}
		}
		if st.Faults.LossBy == "" {
			st.Faults.LossBy = lossNetem
			if err := l.netem(st, ports[0], percent); err != nil {
				st.Faults.LossBy = lossNftables
				how = fmt.Sprintf("the kernel has no netem (%v), so the lab drops packets with an nftables numgen filter in its switch", err)
			}
		}
		if st.Faults.LossBy == lossNetem {
			for _, p := range ports {
				if err := l.netem(st, p, percent); err != nil {
					return err
				}
			}
			if how == "" {
				how = "netem drops the packets"
			}
			return nil
		}
		if how == "" {
			how = "an nftables numgen filter in the lab's switch drops the packets (no netem)"
		}
		return applyFilter(ctx, st)
	})
	return how, err
}

// netem sets (percent > 0) or removes a netem loss qdisc on both ends of
// the veth behind a bridge port.
func (l *Lab) netem(st *state, port string, percent int) error {
	var owner *nodeState
	var ifc *ifaceState
	for _, n := range st.Nodes {
		for _, i := range n.Ifaces {
			if i.Port == port {
				owner, ifc = n, i
			}
		}
	}
	if owner == nil {
		return fmt.Errorf("no node has bridge port %s", port)
	}
	ends := []struct{ netns, link string }{{st.Switch, port}, {owner.Netns, ifc.Name}}
	for _, e := range ends {
		h, err := handleAt(e.netns)
		if err != nil {
			return err
		}
		link, err := h.LinkByName(e.link)
		if err != nil {
			h.Close()
			return fmt.Errorf("finding link %s: %w", e.link, err)
		}
		attrs := netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(0x4c41, 0), Parent: netlink.HANDLE_ROOT}
		q := netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{Loss: float32(percent)})
		if percent == 0 {
			err = h.QdiscDel(q)
			if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EINVAL) {
				err = nil
			}
		} else {
			err = h.QdiscReplace(q)
		}
		h.Close()
		if err != nil {
			return fmt.Errorf("netem on %s: %w", e.link, err)
		}
	}
	return nil
}

// filterTable is the nftables table of the switch's partition and loss
// filters.
const filterTable = "hactl_lab"

// applyFilter replaces the switch's filter with one made from the state's
// dead ports, partition and nftables loss.
func applyFilter(ctx context.Context, st *state) error {
	var rules []string
	if len(st.Faults.DeadPorts) > 0 {
		ports := make([]string, len(st.Faults.DeadPorts))
		for i, p := range st.Faults.DeadPorts {
			ports[i] = fmt.Sprintf("%q", p)
		}
		set := strings.Join(ports, ", ")
		rules = append(rules, fmt.Sprintf("iifname { %s } drop", set), fmt.Sprintf("oifname { %s } drop", set))
	}
	groupPorts := make([][]string, len(st.Faults.Partition))
	for i, g := range st.Faults.Partition {
		for _, name := range g {
			ports, err := st.ports(name, "")
			if err != nil {
				return err
			}
			for _, p := range ports {
				groupPorts[i] = append(groupPorts[i], fmt.Sprintf("%q", p))
			}
		}
	}
	for i := range groupPorts {
		for j := range groupPorts {
			if i != j {
				rules = append(rules, fmt.Sprintf("iifname { %s } oifname { %s } drop", strings.Join(groupPorts[i], ", "), strings.Join(groupPorts[j], ", ")))
			}
		}
	}
	if st.Faults.LossBy == lossNftables {
		ports := make([]string, 0, len(st.Faults.Loss))
		for p := range st.Faults.Loss {
			ports = append(ports, p)
		}
		slices.Sort(ports)
		for _, p := range ports {
			match := fmt.Sprintf("numgen random mod 100 < %d ", st.Faults.Loss[p])
			if st.Faults.Loss[p] == 100 {
				match = ""
			}
			rules = append(rules,
				fmt.Sprintf("iifname %q %sdrop", p, match),
				fmt.Sprintf("oifname %q %sdrop", p, match))
		}
	}
	script := fmt.Sprintf("table bridge %s\ndelete table bridge %s\n", filterTable, filterTable)
	if len(rules) > 0 {
		script += fmt.Sprintf("table bridge %s {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n    %s\n  }\n}\n",
			filterTable, strings.Join(rules, "\n    "))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+netnsPath(st.Switch), "--", "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("loading the switch's filter with nft: %w: %s", err, out)
	}
	return nil
}

// Kill SIGKILLs every process of a node, and nothing outside it: the node
// is down until Restart.
func (l *Lab) Kill(ctx context.Context, node string) error {
	return l.change(func(st *state) error {
		n, err := st.node(node)
		if err != nil {
			return err
		}
		return killNode(ctx, n)
	})
}

// Freeze SIGSTOPs every process of a node: a hung machine whose kernel
// still answers ARP and TCP handshakes but whose programs do nothing.
func (l *Lab) Freeze(ctx context.Context, node string) error {
	n, err := l.st.node(node)
	if err != nil {
		return err
	}
	if !l.initAlive(n) {
		return fmt.Errorf("node %s is down: there is nothing to freeze", node)
	}
	return stopNetns(ctx, n.Netns)
}

// Thaw SIGCONTs every process of a node.
func (l *Lab) Thaw(node string) error {
	n, err := l.st.node(node)
	if err != nil {
		return err
	}
	return signalNetns(n.Netns, syscall.SIGCONT)
}

// Restart power-cycles a node: it kills its processes, boots it again
// (its /etc and /var survive, /run and /tmp start empty) and waits for its
// sshd. A node that was powered off gets its links back, but those cut.
func (l *Lab) Restart(ctx context.Context, node string) error {
	return l.boot(ctx, node, true)
}

// boot boots a node and waits for its sshd: after killing it when cycle
// is set, else only when it does not run. Like a machine that was powered
// off, it starts with the network state its programs had set lost.
func (l *Lab) boot(ctx context.Context, node string, cycle bool) error {
	var target *nodeState
	err := l.change(func(st *state) error {
		n, err := st.node(node)
		if err != nil {
			return err
		}
		if !cycle && l.initAlive(n) {
			return nil
		}
		if err := killNode(ctx, n); err != nil {
			return err
		}
		if err := resetNetwork(ctx, st, n); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		target = n
		return bootNode(l.dir, n)
	})
	if err != nil || target == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return l.waitSSH(ctx, target)
}

// resetNetwork gives a node that has no processes the network state of a
// machine that boots: only the lab's addresses on its interfaces (a VIP it
// held is gone), no nftables rules, and its links up again at the switch
// if it was powered off, except those that are cut.
func resetNetwork(ctx context.Context, st *state, n *nodeState) error {
	h, err := handleAt(n.Netns)
	if err != nil {
		return err
	}
	defer h.Close()
	for _, ifc := range n.Ifaces {
		link, err := h.LinkByName(ifc.Name)
		if err != nil {
			return fmt.Errorf("finding %s: %w", ifc.Name, err)
		}
		addrs, err := h.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("listing the addresses of %s: %w", ifc.Name, err)
		}
		for _, a := range addrs {
			if a.Scope != unix.RT_SCOPE_UNIVERSE || a.IPNet.String() == ifc.Address.String() {
				continue
			}
			if err := h.AddrDel(link, &a); err != nil {
				return fmt.Errorf("removing %s from %s: %w", a.IPNet, ifc.Name, err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "nsenter", "--net="+netnsPath(n.Netns), "--", "nft", "flush", "ruleset").CombinedOutput(); err != nil {
		return fmt.Errorf("flushing its nftables rules: %w: %s", err, out)
	}
	if !n.Off {
		return nil
	}
	var ports []string
	for _, ifc := range n.Ifaces {
		if !slices.Contains(st.Faults.Cut, ifc.Port) {
			ports = append(ports, ifc.Port)
		}
	}
	if err := setPorts(st, ports, true); err != nil {
		return err
	}
	n.Off = false
	return nil
}

// setPorts sets bridge ports up or down at the switch.
func setPorts(st *state, ports []string, up bool) error {
	sw, err := handleAt(st.Switch)
	if err != nil {
		return err
	}
	defer sw.Close()
	for _, p := range ports {
		if err := setLink(sw, p, up); err != nil {
			return err
		}
	}
	return nil
}

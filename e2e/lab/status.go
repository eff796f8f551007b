package lab

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// Status is what a lab is doing now, as observed.
type Status struct {
	Name      string       `json:"name"`
	Dir       string       `json:"dir"`
	Nodes     []NodeStatus `json:"nodes"`
	Partition [][]string   `json:"partition,omitempty"`
	LossBy    string       `json:"loss_by,omitempty"`
	PDU       *PDUStatus   `json:"power_switch,omitempty"`
}

// PDUStatus is the lab's power switch and the last lines of its log.
type PDUStatus struct {
	Pid     int      `json:"pid"`
	Running bool     `json:"running"`
	Port    int      `json:"port"`
	Log     string   `json:"log"`
	Recent  []string `json:"recent,omitempty"`
}

// NodeStatus is one node: whether it runs, and its links.
type NodeStatus struct {
	Name      string       `json:"name"`
	State     string       `json:"state"` // up, frozen, down, off
	Processes int          `json:"processes"`
	SSH       string       `json:"ssh"`
	Links     []LinkStatus `json:"links"`
}

// LinkStatus is one interface of a node.
type LinkStatus struct {
	Interface string `json:"interface"`
	Network   string `json:"network"`
	Address   string `json:"address"`
	Up        bool   `json:"up"`                  // false: cut
	DeadPort  bool   `json:"dead_port,omitempty"` // the switch drops its frames
	Loss      int    `json:"loss_percent,omitempty"`
}

// Node states.
const (
	StateUp     = "up"
	StateFrozen = "frozen"
	StateDown   = "down"
	StateOff    = "off" // powered off by the power switch: links down too
)

// pduLogLines is how many lines of the power switch's log Status shows.
const pduLogLines = 10

// Status observes the lab: its nodes' processes and its links.
func (l *Lab) Status() (*Status, error) {
	st, err := loadState(l.st.Name)
	if err != nil {
		return nil, err
	}
	l.st = st
	sw, err := handleAt(st.Switch)
	if err != nil {
		return nil, err
	}
	defer sw.Close()
	s := &Status{Name: st.Name, Dir: l.dir, Partition: st.Faults.Partition, LossBy: st.Faults.LossBy}
	for _, n := range st.Nodes {
		ns := NodeStatus{Name: n.Name, SSH: dialAddr(n), State: StateDown}
		if n.Off {
			ns.State = StateOff
		}
		pids, err := pidsInNetns(n.Netns)
		if err != nil {
			return nil, err
		}
		ns.Processes = len(pids)
		if l.initAlive(n) {
			ns.State = StateFrozen
			for _, pid := range pids {
				if c := procState(pid); c != 'T' && c != 't' && c != 'Z' && c != 0 {
					ns.State = StateUp
				}
			}
		}
		for _, ifc := range n.Ifaces {
			link, err := sw.LinkByName(ifc.Port)
			if err != nil {
				return nil, fmt.Errorf("node %s: finding its port %s: %w", n.Name, ifc.Port, err)
			}
			ns.Links = append(ns.Links, LinkStatus{
				Interface: ifc.Name, Network: ifc.Network, Address: ifc.Address.String(),
				Up: link.Attrs().Flags&1 != 0, DeadPort: slices.Contains(st.Faults.DeadPorts, ifc.Port), Loss: st.Faults.Loss[ifc.Port],
			})
		}
		s.Nodes = append(s.Nodes, ns)
	}
	if st.PDU != nil {
		s.PDU = &PDUStatus{Pid: st.PDU.Pid, Running: pidAlive(st.PDU.Pid, st.PDU.Start), Port: PDUPort,
			Log: filepath.Join(l.dir, pduLogFile), Recent: pduLog(l.dir, pduLogLines)}
	}
	return s, nil
}

// Write prints the status for people.
func (s *Status) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "lab %s (%s)\n", s.Name, s.Dir)
	for _, n := range s.Nodes {
		fmt.Fprintf(bw, "  %-12s %-7s %3d processes  ssh %s\n", n.Name, n.State, n.Processes, n.SSH)
		for _, li := range n.Links {
			state := "up"
			switch {
			case n.State == StateOff:
				state = "off"
			case !li.Up:
				state = "CUT"
			case li.DeadPort:
				state = "DEAD PORT"
			}
			loss := ""
			if li.Loss > 0 {
				loss = fmt.Sprintf("  loss %d%% (%s)", li.Loss, s.LossBy)
			}
			fmt.Fprintf(bw, "  %-12s   %-6s %-18s %-10s %s%s\n", "", li.Interface, li.Address, li.Network, state, loss)
		}
	}
	if len(s.Partition) > 0 {
		groups := make([]string, len(s.Partition))
		for i, g := range s.Partition {
			groups[i] = strings.Join(g, ",")
		}
		fmt.Fprintf(bw, "  partition: %s\n", strings.Join(groups, " / "))
	}
	if p := s.PDU; p != nil {
		running := "NOT RUNNING"
		if p.Running {
			running = "running"
		}
		fmt.Fprintf(bw, "  power switch: %s (pid %d) on port %d in ctl; log %s\n", running, p.Pid, p.Port, p.Log)
		for _, line := range p.Recent {
			fmt.Fprintf(bw, "    %s\n", line)
		}
	}
	return bw.Flush()
}

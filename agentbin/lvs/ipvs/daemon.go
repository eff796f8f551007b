package ipvs

import (
	"errors"
	"fmt"
	"os"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

// The IPVS generic-netlink commands and attributes of the sync daemon
// (linux/ip_vs.h), which github.com/cloudflare/ipvs does not send.
const (
	genlName      = "IPVS"
	genlVersion   = 1
	cmdNewDaemon  = 9
	cmdDelDaemon  = 10
	cmdGetDaemon  = 11
	cmdAttrDaemon = 3

	daemonAttrState    = 1
	daemonAttrMcastIfn = 2
	daemonAttrSyncID   = 3

	stateMaster = 1
	stateBackup = 2
)

// daemon is one of the kernel's sync daemons: the master sends the
// connections this director makes, by multicast on Iface; the backup
// receives its peers' and enters them in its own connection table.
type daemon struct {
	State  uint32
	Iface  string
	SyncID uint32
}

func daemonState(master bool) uint32 {
	if master {
		return stateMaster
	}
	return stateBackup
}

func stateName(s uint32) string {
	switch s {
	case stateMaster:
		return "master"
	case stateBackup:
		return "backup"
	}
	return fmt.Sprintf("state %d", s)
}

// syncDaemons starts, stops and lists the kernel's sync daemons.
type syncDaemons interface {
	daemons() ([]daemon, error)
	start(daemon) error
	stop(state uint32) error
}

// daemonConn talks to the IPVS generic-netlink family for the daemons.
type daemonConn struct {
	c      *genetlink.Conn
	family uint16
}

func newDaemonConn(c *genetlink.Conn) (*daemonConn, error) {
	f, err := c.GetFamily(genlName)
	if err != nil {
		return nil, fmt.Errorf("finding the IPVS netlink family: %w", err)
	}
	return &daemonConn{c: c, family: f.ID}, nil
}

func (d *daemonConn) execute(cmd uint8, flags netlink.HeaderFlags, attrs func(*netlink.AttributeEncoder)) ([]genetlink.Message, error) {
	var data []byte
	if attrs != nil {
		ae := netlink.NewAttributeEncoder()
		attrs(ae)
		var err error
		if data, err = ae.Encode(); err != nil {
			return nil, err
		}
	}
	msg := genetlink.Message{Header: genetlink.Header{Command: cmd, Version: genlVersion}, Data: data}
	return d.c.Execute(msg, d.family, flags)
}

func (d *daemonConn) daemons() ([]daemon, error) {
	msgs, err := d.execute(cmdGetDaemon, netlink.Request|netlink.Dump, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the IPVS sync daemons: %w", err)
	}
	var out []daemon
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return nil, err
		}
		for ad.Next() {
			if ad.Type() != cmdAttrDaemon {
				continue
			}
			var dm daemon
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch nad.Type() {
					case daemonAttrState:
						dm.State = nad.Uint32()
					case daemonAttrMcastIfn:
						dm.Iface = nad.String()
					case daemonAttrSyncID:
						dm.SyncID = nad.Uint32()
					}
				}
				return nil
			})
			out = append(out, dm)
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("reading the IPVS sync daemons: %w", err)
		}
	}
	return out, nil
}

func (d *daemonConn) start(dm daemon) error {
	_, err := d.execute(cmdNewDaemon, netlink.Request|netlink.Acknowledge, func(ae *netlink.AttributeEncoder) {
		ae.Nested(cmdAttrDaemon, func(nae *netlink.AttributeEncoder) error {
			nae.Uint32(daemonAttrState, dm.State)
			nae.String(daemonAttrMcastIfn, dm.Iface)
			nae.Uint32(daemonAttrSyncID, dm.SyncID)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("starting the IPVS %s sync daemon on %s: %w", stateName(dm.State), dm.Iface, err)
	}
	return nil
}

func (d *daemonConn) stop(state uint32) error {
	_, err := d.execute(cmdDelDaemon, netlink.Request|netlink.Acknowledge, func(ae *netlink.AttributeEncoder) {
		ae.Nested(cmdAttrDaemon, func(nae *netlink.AttributeEncoder) error {
			nae.Uint32(daemonAttrState, state)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("stopping the IPVS %s sync daemon: %w", stateName(state), err)
	}
	return nil
}

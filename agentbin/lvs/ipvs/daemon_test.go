package ipvs

import (
	"reflect"
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
)

// TestDaemonMessages checks the sync-daemon commands byte for byte against
// what linux/ip_vs.h and ip_vs_ctl.c expect: the command, the flags, and
// the daemon attributes nested in IPVS_CMD_ATTR_DAEMON.
func TestDaemonMessages(t *testing.T) {
	family := genetlink.Family{ID: 42, Name: genlName, Version: genlVersion}
	nested := func(attrs ...netlink.Attribute) []byte {
		inner, err := netlink.MarshalAttributes(attrs)
		if err != nil {
			t.Fatal(err)
		}
		out, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: cmdAttrDaemon | netlink.Nested, Data: inner}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	u32 := func(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	tests := []struct {
		name    string
		do      func(*daemonConn) error
		command uint8
		flags   netlink.HeaderFlags
		data    []byte
	}{
		{
			name:    "start the master on eth0",
			do:      func(d *daemonConn) error { return d.start(daemon{State: stateMaster, Iface: "eth0", SyncID: 7}) },
			command: cmdNewDaemon, flags: netlink.Request | netlink.Acknowledge,
			data: nested(
				netlink.Attribute{Type: daemonAttrState, Data: u32(stateMaster)},
				netlink.Attribute{Type: daemonAttrMcastIfn, Data: []byte("eth0\x00")},
				netlink.Attribute{Type: daemonAttrSyncID, Data: u32(7)},
			),
		},
		{
			name:    "stop the backup",
			do:      func(d *daemonConn) error { return d.stop(stateBackup) },
			command: cmdDelDaemon, flags: netlink.Request | netlink.Acknowledge,
			data: nested(netlink.Attribute{Type: daemonAttrState, Data: u32(stateBackup)}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []genetlink.Message
			var flags netlink.HeaderFlags
			c := genltest.Dial(genltest.ServeFamily(family, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
				got = append(got, greq)
				flags = nreq.Header.Flags
				return []genetlink.Message{{}}, nil
			}))
			defer c.Close()
			d, err := newDaemonConn(c)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.do(d); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d messages sent, want 1", len(got))
			}
			if got[0].Header.Command != tt.command || got[0].Header.Version != genlVersion || flags != tt.flags {
				t.Errorf("header %+v flags %v, want command %d version %d flags %v", got[0].Header, flags, tt.command, genlVersion, tt.flags)
			}
			if !reflect.DeepEqual(got[0].Data, tt.data) {
				t.Errorf("attributes\n % x\nwant\n % x", got[0].Data, tt.data)
			}
		})
	}
}

// TestDaemonsDecodesTheKernelsDump reads a GET_DAEMON dump as the kernel
// answers it (ip_vs_genl_dump_daemon).
func TestDaemonsDecodesTheKernelsDump(t *testing.T) {
	family := genetlink.Family{ID: 42, Name: genlName, Version: genlVersion}
	answer := func(state uint32, iface string, id uint32) genetlink.Message {
		ae := netlink.NewAttributeEncoder()
		ae.Nested(cmdAttrDaemon, func(nae *netlink.AttributeEncoder) error {
			nae.Uint32(daemonAttrState, state)
			nae.String(daemonAttrMcastIfn, iface)
			nae.Uint32(daemonAttrSyncID, id)
			nae.Uint16(7, 8848) // IPVS_DAEMON_ATTR_MCAST_PORT: not read
			return nil
		})
		data, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return genetlink.Message{Data: data}
	}
	c := genltest.Dial(genltest.ServeFamily(family, genltest.CheckRequest(family.ID, cmdGetDaemon, netlink.Request|netlink.Dump,
		func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
			return []genetlink.Message{answer(stateMaster, "eth0", 3), answer(stateBackup, "eth1", 3)}, nil
		})))
	defer c.Close()
	d, err := newDaemonConn(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.daemons()
	if err != nil {
		t.Fatal(err)
	}
	want := []daemon{{stateMaster, "eth0", 3}, {stateBackup, "eth1", 3}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("daemons %+v, want %+v", got, want)
	}
}

package importer

import (
	"net/netip"
	"slices"
	"testing"
)

func TestSeconds(t *testing.T) {
	for _, c := range []struct {
		in, want string
		bad      bool
	}{
		{in: "10", want: "10s"},
		{in: "1.5", want: "1500ms"},
		{in: "500ms", want: "500ms"},
		{in: "2s", want: "2s"},
		{in: "1min", want: "1m"},
		{in: "1h", want: "1h"},
		{in: "1.5h", want: "1h30m0s"},
		{in: "1d", want: "1d"},
		{in: "0.5d", want: "12h0m0s"},
		{in: "-1", bad: true},
		{in: "ten", bad: true},
		{in: "1e99", bad: true},
	} {
		got, err := Seconds(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("Seconds(%q) = %q, %v; want %q, error %t", c.in, got, err, c.want, c.bad)
		}
	}
}

func TestParseNodeFlag(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []NodeAddress
		bad  bool
	}{
		{in: "h2g=192.168.0.18", want: []NodeAddress{{Node: "h2g", Addr: netip.MustParseAddr("192.168.0.18"), Bits: -1}}},
		{in: "h2g=192.168.0.18/24@eth0,192.168.1.18@eth1", want: []NodeAddress{
			{Node: "h2g", Addr: netip.MustParseAddr("192.168.0.18"), Bits: 24, Device: "eth0"},
			{Node: "h2g", Addr: netip.MustParseAddr("192.168.1.18"), Bits: -1, Device: "eth1"},
		}},
		{in: "h2g.example.com=fe80::1/64", want: []NodeAddress{{Node: "h2g_example_com", Addr: netip.MustParseAddr("fe80::1"), Bits: 64}}},
		{in: "h2g", bad: true},
		{in: "=1.2.3.4", bad: true},
		{in: "h2g=host.example.com", bad: true},
		{in: "h2g=1.2.3.4/33", bad: true},
	} {
		got, err := ParseNodeFlag(c.in)
		if (err != nil) != c.bad || !slices.Equal(got, c.want) {
			t.Errorf("ParseNodeFlag(%q) = %v, %v; want %v, error %t", c.in, got, err, c.want, c.bad)
		}
	}
}

func TestLabel(t *testing.T) {
	for in, want := range map[string]string{
		"web":                    "web",
		"h2g.example":            "h2g_example",
		"192.168.0.1":            "_192_168_0_1",
		"":                       "_",
		"my group/1":             "my_group_1",
		"-leading-dash":          "_-leading-dash",
		"Ünïcode":                "_n_code",
		string(make([]byte, 70)): "_" + string(slices.Repeat([]byte("_"), 62)),
	} {
		if got := Label(in); got != want {
			t.Errorf("Label(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewSourceRefuses(t *testing.T) {
	for name, data := range map[string][]byte{
		"NUL byte":     []byte("node a\x00"),
		"invalid UTF8": {0xff, 0xfe},
		"long line":    slices.Repeat([]byte("a"), MaxLineLength+1),
		"many lines":   slices.Repeat([]byte("\n"), MaxLines+1),
	} {
		if _, err := NewSource(name, data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

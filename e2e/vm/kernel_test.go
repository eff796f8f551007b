package vm

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
)

func TestResolveOrdersModulesAfterTheirDependencies(t *testing.T) {
	// As Debian 6.1 declares them: ip_vs needs nf_conntrack and
	// libcrc32c, which has a softdep on the crc32c alias, provided by
	// a CPU-specific and a generic module.
	mods := map[string]*moduleInfo{
		"ip_vs":          {path: "ip_vs.ko", depends: []string{"nf_conntrack", "nf_defrag_ipv6", "libcrc32c"}},
		"ip_vs_rr":       {path: "ip_vs_rr.ko", depends: []string{"ip_vs"}},
		"nf_conntrack":   {path: "nf_conntrack.ko", depends: []string{"nf_defrag_ipv4", "nf_defrag_ipv6", "libcrc32c"}},
		"nf_defrag_ipv4": {path: "nf_defrag_ipv4.ko"},
		"nf_defrag_ipv6": {path: "nf_defrag_ipv6.ko"},
		"libcrc32c":      {path: "libcrc32c.ko", softPre: []string{"crc32c"}},
		"crc32c_intel":   {path: "crc32c-intel.ko", aliases: []string{"crc32c"}},
		"crc32c_generic": {path: "crc32c_generic.ko", aliases: []string{"crc32c"}},
		"bridge":         {path: "bridge.ko", depends: []string{"stp", "llc"}},
		"stp":            {path: "stp.ko", depends: []string{"llc"}},
		"llc":            {path: "llc.ko"},
	}
	lookup := func(n string) (*moduleInfo, error) { return mods[n], nil }
	providers := func(alias string) ([]string, error) {
		var out []string
		for n, m := range mods {
			for _, a := range m.aliases {
				if a == alias {
					out = append(out, n)
				}
			}
		}
		return out, nil
	}
	tests := []struct {
		names []string
		want  string
	}{
		{[]string{"ip_vs_rr"}, "nf_defrag_ipv4 nf_defrag_ipv6 crc32c_generic libcrc32c nf_conntrack ip_vs ip_vs_rr"},
		{[]string{"bridge", "llc"}, "llc stp bridge"},
	}
	for _, tt := range tests {
		got, err := resolve(tt.names, lookup, providers)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range got {
			names = append(names, m.Name)
		}
		if strings.Join(names, " ") != tt.want {
			t.Errorf("resolve(%v) = %v, want %s", tt.names, names, tt.want)
		}
	}
	if _, err := resolve([]string{"ip_vs_nope"}, lookup, providers); err == nil || !strings.Contains(err.Error(), "module ip_vs_nope not found") {
		t.Errorf("a missing module: err = %v", err)
	}
	mods["llc"].depends = []string{"bridge"}
	if _, err := resolve([]string{"bridge"}, lookup, providers); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("a cycle: err = %v", err)
	}
}

func TestParseModinfo(t *testing.T) {
	var m moduleInfo
	parseModinfo(&m, []byte("license=GPL\x00softdep=pre: crc32c post: foo\x00depends=nf_conntrack,libcrc32c\x00alias=net-pf-1\x00alias=crc32c\x00"))
	want := moduleInfo{depends: []string{"nf_conntrack", "libcrc32c"}, softPre: []string{"crc32c"}, aliases: []string{"net-pf-1", "crc32c"}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("parsed %+v, want %+v", m, want)
	}
}

func TestVersionLess(t *testing.T) {
	sorted := []string{"5.10.0-9-amd64", "6.1.0-9-amd64", "6.1.0-57-amd64", "6.12.0-1-amd64"}
	for i := 1; i < len(sorted); i++ {
		if !versionLess(sorted[i-1], sorted[i]) || versionLess(sorted[i], sorted[i-1]) {
			t.Errorf("%s and %s out of order", sorted[i-1], sorted[i])
		}
	}
}

// bzImage builds the parts of a bzImage that extractVmlinux reads: the
// setup header and a payload where payload_offset says.
func bzImage(payload []byte) []byte {
	const setupSects = 2
	img := make([]byte, (setupSects+1)*512+64)
	img[0x1f1] = setupSects
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x206:], 0x20f)
	binary.LittleEndian.PutUint32(img[0x248:], 64)
	binary.LittleEndian.PutUint32(img[0x24c:], uint32(len(payload)))
	return append(img, append(payload, 1, 2, 3, 4)...) // the size trailer
}

func TestExtractVmlinux(t *testing.T) {
	kernel := append([]byte(elf.ELFMAG), bytes.Repeat([]byte("kernel text "), 100)...)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(kernel)
	zw.Close()
	got, err := extractVmlinux(bzImage(gz.Bytes()))
	if err != nil || !bytes.Equal(got, kernel) {
		t.Errorf("gzip payload: %d bytes, err %v; want the %d-byte kernel", len(got), err, len(kernel))
	}
	if _, err := extractVmlinux(bzImage([]byte{0x02, 0x21, 0x4c, 0x18})); err == nil || !strings.Contains(err.Error(), errNoDecoder.Error()) {
		t.Errorf("an lz4 payload: err = %v, want errNoDecoder", err)
	}
	if _, err := extractVmlinux(make([]byte, 4096)); err == nil || !strings.Contains(err.Error(), "not a bzImage") {
		t.Errorf("no header: err = %v", err)
	}
}

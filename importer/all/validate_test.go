package all

import (
	"slices"
	"strings"
	"testing"

	"github.com/hactl/hactl/importer"
)

// TestImportsValidate imports inputs beyond the guide's (Pound 4.x,
// ipvsadm-save output, ldirectord, a keepalived pair read through
// includes) and checks that each loads and holds what the test names.
func TestImportsValidate(t *testing.T) {
	td := "../testdata/"
	hosts := []string{"h2g=192.168.0.18@eth0,192.168.3.18@eth1", "c2g=192.168.0.17@eth0,192.168.3.17@eth1", "f400=192.168.0.3", "dgx=192.168.0.27"}
	cases := []struct {
		name   string
		inputs []Input
		nodes  []string
		accept bool
		want   []string // lines of the topology's projection
	}{
		{
			name: "pound 4.x and ipvsadm-save",
			inputs: []Input{
				{Kind: "heartbeat", Files: []string{td + "guide/pound-proxy/ha.cf", td + "guide/pound-proxy/haresources"}},
				{Kind: "pound", Files: []string{td + "more/pound4.cfg"}},
				{Kind: "ipvsadm", Files: []string{td + "more/ipvsadm.save"}},
			},
			nodes:  hosts,
			accept: true, // HeadDeny
			want: []string{
				"proxy service 0 host=^example\\.com$ path= headers=map[] | redirect :80 w5 https://www.example.com",
				"proxy service 1 host= path=^/api/ headers=map[X-Tenant:^blue$] session=header/X-Session/10m0s | regular f400:8080 w3 ",
				"virtual_service tcp 192.168.3.181:443 wlc dr -> 192.168.0.27:443 w1, 192.168.0.3:443 w2",
				"virtual_service udp 192.168.3.181:53 rr nat -> 192.168.0.3:53 w1",
			},
		},
		{
			name: "pound listeners with their own methods, SNI certificates and client certificates",
			inputs: []Input{
				{Kind: "heartbeat", Files: []string{td + "guide/pound-proxy/ha.cf", td + "guide/pound-proxy/haresources"}},
				{Kind: "pound", Files: []string{td + "more/pound-tls.cfg"}},
			},
			nodes: hosts,
			want: []string{
				"proxy vip=192.168.3.181/24 methods=[GET HEAD POST] body=10485760 client=10s backend=15s listeners http::80 cert= key= " +
					"https::443 cert=/etc/pound/www.pem key=/etc/pound/www.pem methods=[GET HEAD POST PUT PATCH DELETE LOCK UNLOCK PROPFIND PROPPATCH SEARCH MKCOL MOVE COPY OPTIONS TRACE MKACTIVITY CHECKOUT MERGE REPORT] " +
					"sni=/etc/pound/dav.example.pem//etc/pound/dav.example.pem ca=/etc/pound/clients-ca.pem tls=1.3 access_log=false rewrite_location=false",
			},
		},
		{
			name: "heartbeat v2 and ldirectord",
			inputs: []Input{
				{Kind: "heartbeat", Files: []string{td + "ldirectord/ha.cf", td + "ldirectord/cib_tmp2.xml"}},
				{Kind: "ldirectord", Files: []string{td + "ldirectord/ldirectord.cf"}},
			},
			nodes: hosts,
			want:  []string{"virtual_service tcp 192.168.3.181:80 rr nat -> 192.168.0.27:80 w2, 192.168.0.3:80 w1"},
		},
		{
			name:   "keepalived pair through includes",
			inputs: []Input{{Kind: "keepalived", Files: []string{td + "keepalived/pair/h2g/keepalived.conf", td + "keepalived/pair/c2g/keepalived.conf"}}},
			want: []string{
				"group h2g=200,c2g=100 failback=true: vip 192.168.0.33/24@eth0",
				"node c2g eth0=192.168.0.17/24",
				"node h2g eth0=192.168.0.18/24",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Import(c.inputs, importer.Options{Nodes: c.nodes, AcceptDifferences: c.accept})
			if err != nil {
				t.Fatal(err)
			}
			if m.Diags.HasErrors() {
				t.Fatalf("import errors: %v", m.Diags.Errs())
			}
			got := project(loadWritten(t, m))
			for _, w := range c.want {
				if !slices.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

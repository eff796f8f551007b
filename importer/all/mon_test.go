package all

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hactl/hactl/importer"
	"github.com/hactl/hactl/plan/golden"
	"github.com/hactl/hactl/plan/topology"
)

// TestMonChecksTheGuidesLVS imports the guide's chapter-4 directors
// (ha.cf, cib_tmp2.xml, the ipvsadm script) with a mon.cf watching their
// real servers, given in either order after ipvsadm: the virtual
// services get the health checks of the lvs-nat example, mon's mail
// alert a notify on real_server_down and real_server_up.
func TestMonChecksTheGuidesLVS(t *testing.T) {
	g := "../testdata/guide/lvs-nat/"
	monCF := "../testdata/more/mon/mon.cf"
	want := healthChecks(loadExample(t, "lvs-nat"))
	for i, files := range [][]string{{g + "ipvsadm.sh", monCF}, {monCF, g + "ipvsadm.sh"}} {
		t.Run(fmt.Sprint(files), func(t *testing.T) {
			m, err := Import([]Input{
				{Kind: "heartbeat", Files: []string{g + "ha.cf", g + "authkeys", g + "cib_tmp2.xml"}},
				{Kind: "ipvsadm", Files: files},
			}, importer.Options{Nodes: []string{"h2g=192.168.0.18@eth0,192.168.3.18@eth1", "c2g=192.168.0.17@eth0,192.168.3.17@eth1", "f400=192.168.0.3@eth0", "dgx=192.168.0.27@eth0"}})
			if err != nil {
				t.Fatal(err)
			}
			if m.Diags.HasErrors() {
				t.Fatalf("import errors: %v", m.Diags.Errs())
			}
			if i == 0 {
				golden.Check(t, "../testdata/more/mon/cluster.hcl.golden", string(m.HCL()))
			}
			tp := loadWritten(t, m)
			if got := healthChecks(tp); !slices.Equal(got, want) {
				t.Errorf("health checks:\n%s\nwant the example's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			var notifies []string
			for _, n := range tp.Notifies {
				notifies = append(notifies, n.Command+" "+strings.Join(n.Events, ","))
			}
			if w := []string{"/usr/lib/mon/alert.d/mail.alert root@localhost real_server_down,real_server_up"}; !slices.Equal(notifies, w) {
				t.Errorf("notifies %q, want %q", notifies, w)
			}
		})
	}
}

// healthChecks lists each virtual service's check.
func healthChecks(tp *topology.Topology) []string {
	var out []string
	for _, vs := range tp.VirtualServices {
		h := vs.HealthCheck
		if h == nil {
			out = append(out, vs.Name+": none")
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s path=%s status=%v every %s timeout %s rise %d fall %d", vs.Name, h.Type, h.Path, h.ExpectStatus, h.Interval, h.Timeout, h.Rise, h.Fall))
	}
	return out
}

// TestMonDirectives: what mon.cf says that hactl cannot do is an error
// naming the line; the rest is reported.
func TestMonDirectives(t *testing.T) {
	script := "ipvsadm -A -t 10.0.0.100:80 -s rr\nipvsadm -a -t 10.0.0.100:80 -r 10.0.0.1:80 -m\n"
	cases := []struct{ name, cfg, want string }{
		{"ping", "hostgroup www 10.0.0.1\nwatch www\n service ping\n  monitor fping.monitor\n", "monitor fping.monitor behaves differently"},
		{"period", "hostgroup www 10.0.0.1\nwatch www\n service http\n  monitor http.monitor\n  period wd {Mon-Fri} hr {9am-5pm}\n   alert mail.alert root\n", "behaves differently"},
		{"two checks", "hostgroup www 10.0.0.1\nwatch www\n service http\n  monitor http.monitor\n service tcp\n  monitor tcp.monitor -p 80\n", "one health check per virtual service"},
		{"dependency", "hostgroup www 10.0.0.1\nwatch www\n service http\n  monitor http.monitor\n  depend router:ping\n", "depend behaves differently"},
		{"alert on an exit code", "hostgroup www 10.0.0.1\nwatch www\n service http\n  interval 1.5m\n  monitor http.monitor\n  period wd {Sun-Sat}\n   alert exit=2 mail.alert root\n", "alert exit=2 behaves differently"},
		{"bad interval", "hostgroup www 10.0.0.1\nwatch www\n service http\n  interval soon\n  monitor http.monitor\n", "Bad interval"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := Import([]Input{{Kind: "ipvsadm", Files: []string{write(t, dir, "lvs.sh", script), write(t, dir, "mon.cf", c.cfg)}}}, importer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, m, c.want, "mon.cf")
		})
	}
}

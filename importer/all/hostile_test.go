package all

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hactl/hactl/importer"
)

// importWithin runs an import and fails if it takes longer than a few
// seconds: a hang is as bad as a panic.
func importWithin(t *testing.T, inputs []Input) (*importer.Model, error) {
	t.Helper()
	type result struct {
		m   *importer.Model
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := Import(inputs, importer.Options{Nodes: []string{"h2g=192.168.0.18"}})
		if err == nil && !m.Diags.HasErrors() {
			m.HCL()
		}
		done <- result{m, err}
	}()
	select {
	case r := <-done:
		return r.m, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("the import did not finish in 10s")
		return nil, nil
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHostileInputs feeds every kind broken and hostile files: each must
// end in a clear error (a read error, or error diagnostics with a file
// and line), never a panic or a hang.
func TestHostileInputs(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.conf")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil { // 100 MB, sparse
		t.Fatal(err)
	}
	f.Close()
	loopA := write(t, dir, "loop/a.conf", "include b.conf\nvrrp_instance X {\n interface eth0\n}\n")
	write(t, dir, "loop/b.conf", "include a.conf\n")
	self := write(t, dir, "self.conf", "include self.conf\n")
	deep := write(t, dir, "deep.conf", strings.Repeat("a {\n", 100)+strings.Repeat("}\n", 100))
	fifo := filepath.Join(dir, "fifo.conf")
	if err := mkfifo(fifo); err == nil {
		write(t, dir, "fifo-include.conf", "include fifo.conf\n")
	}
	var many strings.Builder
	for i := range 12000 {
		fmt.Fprintf(&many, "h%d 10.0.%d.%d httpd%d\n", i, i>>8&255, i&255, i)
	}
	deepXML := write(t, dir, "deep.xml", "<cib>"+strings.Repeat("<a>", 1000)+strings.Repeat("</a>", 1000)+"</cib>")
	cases := []struct {
		name    string
		kind    string
		content string // written to a file; or path, when set
		path    string
		readErr string // want Import to fail reading with this
	}{
		{name: "100 MB file", kind: "keepalived", path: big, readErr: "more than"},
		{name: "binary heartbeat", kind: "heartbeat", content: "\x00\x01\x02ha.cf\xff", readErr: "binary"},
		{name: "binary pound", kind: "pound", content: "ListenHTTP\n\x00End", readErr: "binary"},
		{name: "12000 haresources groups", kind: "heartbeat", content: many.String()},
		{name: "include loop", kind: "keepalived", path: loopA},
		{name: "include of itself", kind: "keepalived", path: self},
		{name: "blocks nested too deep", kind: "keepalived", path: deep},
		{name: "unbalanced braces, missing }", kind: "keepalived", content: "vrrp_instance VI_1 {\n  interface eth0\n  virtual_ipaddress {\n    10.0.0.1\n"},
		{name: "unbalanced braces, extra }", kind: "keepalived", content: "}\n}\nvrrp_instance VI_1 {\n}\n}\n"},
		{name: "truncated keepalived", kind: "keepalived", content: "virtual_server 10.0.0.1 80 {\n  real_server 10.0.0."},
		{name: "truncated cib", kind: "heartbeat", content: "<cib><configuration><resources><group id=\"g\"><primitive class=\"ocf\" type=\"IPaddr\" id=\"ip\"><instance_attributes><attributes><nvpair name=\"ip\" value=\"10."},
		{name: "deep cib", kind: "heartbeat", path: deepXML},
		{name: "cib that is not a cib", kind: "heartbeat", content: "<html><body>hi</body></html>"},
		{name: "haresources with a bad address", kind: "heartbeat", content: "h2g IPaddr::10.0.0.300/24/eth0\n"},
		{name: "pound without End", kind: "pound", content: "ListenHTTP\n Address 10.0.0.1\n Port 80\nService\n BackEnd\n Address 10.0.0.2\n"},
		{name: "pound End without block", kind: "pound", content: "End\nEnd\n"},
		{name: "ipvsadm garbage", kind: "ipvsadm", content: "ipvsadm -A -t\nipvsadm -a -t 1.2.3.4:80 -r\nipvsadm -Q\n"},
		{name: "rsync unterminated quote", kind: "rsync", content: "rsync -a --exclude '*.tmp /a/ b:/c/\n"},
		{name: "mrtg bad target", kind: "mrtg", content: "Target[x]: public@\nTarget[y]: #eth0:public@host:notaport\n"},
		{name: "mon watch of an unknown hostgroup", kind: "ipvsadm", content: "watch www\n service http\n  monitor http.monitor\n"},
		{name: "mon service outside a watch", kind: "ipvsadm", content: "hostgroup www 10.0.0.1\nservice http\n monitor http.monitor\n"},
		{name: "mon truncated service", kind: "ipvsadm", content: "hostgroup www 10.0.0.1\nwatch www\n service http\n  interval\n"},
		{name: "mon alert outside a period", kind: "ipvsadm", content: "hostgroup www 10.0.0.1\nwatch www\n service http\n  monitor http.monitor -p x\n  alert mail.alert\n"},
		{name: "ldirectord bad virtual", kind: "ldirectord", content: "virtual=nonsense\n\treal=also:nonsense gate\n"},
	}
	if _, err := os.Stat(fifo); err == nil {
		cases = append(cases, struct {
			name, kind, content, path, readErr string
		}{name: "include of a FIFO", kind: "keepalived", path: filepath.Join(dir, "fifo-include.conf")})
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.path
			if path == "" {
				path = write(t, dir, filepath.Join("case", string(rune('a'+i))), c.content)
			}
			m, err := importWithin(t, []Input{{Kind: c.kind, Files: []string{path}}})
			if c.readErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.readErr) {
					t.Fatalf("want a read error with %q, got %v", c.readErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !m.Diags.HasErrors() {
				t.Fatalf("no error for a broken input; diagnostics: %v", m.Diags)
			}
			for _, d := range m.Diags.Errs() {
				checkPlaced(t, toDiag(d))
			}
		})
	}
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

func toDiag(err error) *hcl.Diagnostic { return err.(*hcl.Diagnostic) }

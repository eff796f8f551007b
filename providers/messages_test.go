package providers

import (
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// libraryWords are phrases of Go's and go-cty's own errors that mean
// nothing to an operator: a message must say the problem in its words.
var libraryWords = []string{"netip.", "ParsePrefix", "ParseAddr", "is required", "required, but have", "error parsing regexp", "missing port in address"}

func assertOwnWords(t *testing.T, msg string) {
	t.Helper()
	for _, w := range libraryWords {
		if strings.Contains(msg, w) {
			t.Errorf("%q leaks the library's %q", msg, w)
		}
	}
}

func TestValueProblemsInTheOperatorsWords(t *testing.T) {
	reErr := compileError("(ok")
	tests := []struct{ got, want string }{
		{prefixProblem("10.0.0.0/33"), `the prefix length /33 of "10.0.0.0/33" is too long: an IPv4 address has 32 bits`},
		{prefixProblem("2001:db8::/129"), `the prefix length /129 of "2001:db8::/129" is too long: an IPv6 address has 128 bits`},
		{prefixProblem("172.16.0"), `"172.16.0" has no prefix length (the /24 part)`},
		{prefixProblem("10.0.0.0/x"), `the prefix length "x" of "10.0.0.0/x" is not a number`},
		{prefixProblem("10.0.0/8"), `"10.0.0" does not have the four numbers of an IPv4 address`},
		{addrProblem("192.168.0"), `"192.168.0" does not have the four numbers of an IPv4 address`},
		{addrProblem("10.0.0.2/24"), `"10.0.0.2/24" has a prefix length, which does not belong here`},
		{addrProblem("www"), `"www" is not an IP address`},
		{addrProblem(""), "the address is empty"},
		{HostPortProblem("192.168.0.250"), `"192.168.0.250" is not host:port`},
		{HostPortProblem("2001:db8::1:80"), `"2001:db8::1:80" is not host:port: an IPv6 address goes in brackets`},
		{HostPortProblem(":80"), `":80" has no host before the colon`},
		{HostPortProblem("h:70000"), `the port "70000" of "h:70000" is not a number from 1 to 65535`},
		{HostPortProblem("[2001:db8::1]:80"), ""},
		{RegexpProblem(reErr), `missing closing ) in "(ok"`},
		{Describe(cty.StringVal("sometimes"), cty.Bool), `the string "sometimes"`},
		{Describe(cty.NumberFloatVal(1.5), cty.String), "the number 1.5"},
		{Describe(cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.ListValEmpty(cty.String)}), cty.List(cty.String)), "a list whose element 2 is a list"},
		{Describe(cty.ObjectVal(map[string]cty.Value{"k": cty.True}), cty.List(cty.String)), "a map { … }"},
		{Describe(cty.ObjectVal(map[string]cty.Value{"k": cty.EmptyTupleVal}), cty.Map(cty.String)), `a map whose "k" is a list`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got  %q\nwant %q", tt.got, tt.want)
		}
		assertOwnWords(t, tt.got)
	}
}

// Duplicate names are reported with the kind written once, as a block
// type, whatever the kind: no template makes a plural of it.
func TestDuplicateNamesReadForEveryKind(t *testing.T) {
	d := NewDecoder(nil)
	first := hcl.Range{Filename: "c.hcl", Start: hcl.Pos{Line: 3, Column: 1}, End: hcl.Pos{Line: 3, Column: 9}}
	second := hcl.Range{Filename: "c.hcl", Start: hcl.Pos{Line: 7, Column: 1}, End: hcl.Pos{Line: 7, Column: 9}}
	for _, decl := range [][2]string{{"", "node"}, {`virtual_service "https"`, "real_server"}, {"heartbeat", "link"}} {
		if !d.DeclareIn(decl[0], decl[1], "x", first) || d.DeclareIn(decl[0], decl[1], "x", second) {
			t.Fatalf("%v: the second declaration was accepted", decl)
		}
	}
	if !d.DeclareIn(`virtual_service "http"`, "real_server", "x", first) {
		t.Error(`a real_server of another virtual_service was taken for a duplicate`)
	}
	want := []string{
		`Duplicate node "x": Another node named "x" is declared at c.hcl:3,1-9. Rename one of them.`,
		`Duplicate real_server "x" in virtual_service "https": Another real_server named "x" is declared in virtual_service "https" at c.hcl:3,1-9. Rename one of them.`,
		`Duplicate link "x" in heartbeat: Another link named "x" is declared in heartbeat at c.hcl:3,1-9. Rename one of them.`,
	}
	if len(d.Diags) != len(want) {
		t.Fatalf("%d diagnostics, want %d: %v", len(d.Diags), len(want), d.Diags)
	}
	for i, diag := range d.Diags {
		if got := diag.Summary + ": " + diag.Detail; got != want[i] {
			t.Errorf("got  %s\nwant %s", got, want[i])
		}
		if *diag.Subject != second {
			t.Errorf("%s points at %v, want the second declaration", diag.Summary, diag.Subject)
		}
	}
}

// compileError compiles a pattern known to be bad; a function, so that
// linters do not flag the pattern itself.
func compileError(pattern string) error {
	_, err := regexp.Compile(pattern)
	return err
}

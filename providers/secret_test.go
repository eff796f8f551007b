package providers

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

func TestSecretAttributes(t *testing.T) {
	spec := &Block{Type: "fence", Attrs: []*Attr{
		{Name: "password", Type: String, Secret: true, SecretFile: "password_file"},
		{Name: "password_file", Type: String},
	}}
	tests := []struct {
		name, body string
		json       bool
		want       []string // "warning: summary" or "error: summary"
	}{
		{name: "literal", body: `password = "s3cret"`, want: []string{"warning: Secret written inline"}},
		{name: "literal in JSON", body: `{"password": "s3cret"}`, json: true, want: []string{"warning: Secret written inline"}},
		{name: "variable", body: `password = var.pw`},
		{name: "template of a variable", body: `password = "${var.pw}"`},
		{name: "variable in JSON", body: `{"password": "${var.pw}"}`, json: true},
		{name: "file", body: `password_file = "secrets/pw"`},
		{name: "both", body: "password = var.pw\npassword_file = \"secrets/pw\"", want: []string{"error: Both password and password_file"}},
		{name: "empty literal", body: `password = ""`, want: []string{"error: Empty password"}},
		{name: "empty variable", body: `password = var.empty`, want: []string{"error: Empty password"}},
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"var": cty.ObjectVal(map[string]cty.Value{"pw": cty.StringVal("s3cret"), "empty": cty.StringVal("")}),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := hclparse.NewParser()
			var f *hcl.File
			var diags hcl.Diagnostics
			if tt.json {
				f, diags = p.ParseJSON([]byte(tt.body), "t.json")
			} else {
				f, diags = p.ParseHCL([]byte(tt.body), "t.hcl")
			}
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			d := NewDecoder(ctx)
			d.Content(&hcl.Block{Type: "fence", Body: f.Body, DefRange: hcl.Range{Filename: "t"}}, spec)
			var got []string
			for _, dg := range d.Diags {
				sev := "error"
				if dg.Severity == hcl.DiagWarning {
					sev = "warning"
				}
				got = append(got, sev+": "+dg.Summary)
				if strings.Contains(dg.Detail, "s3cret") {
					t.Errorf("the diagnostic shows the secret: %s", dg.Detail)
				}
			}
			if strings.Join(got, "; ") != strings.Join(tt.want, "; ") {
				t.Errorf("diagnostics %q, want %q", got, tt.want)
			}
		})
	}
}

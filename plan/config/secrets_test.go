package config

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestMaskSecretsKeepsOffsetsAndHidesTheValue(t *testing.T) {
	tests := []struct {
		name, src, secret, want string
	}{
		{"quoted", `password = "hunter2" # BMC`, `"hunter2"`, `password = "*******" # BMC`},
		{"heredoc", "password = <<EOT\nhunter2\nEOT\n", "<<EOT\nhunter2\nEOT", "password = *****\n*******\n***\n"},
		{"number", "community = 12345\n", "12345", "community = *****\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := strings.Index(tt.src, tt.secret)
			files := map[string]*hcl.File{"c.hcl": {Bytes: []byte(tt.src)}, "other.hcl": {Bytes: []byte(tt.src)}}
			rng := hcl.Range{Filename: "c.hcl", Start: hcl.Pos{Byte: start}, End: hcl.Pos{Byte: start + len(tt.secret)}}
			maskSecrets(files, []hcl.Range{rng, {Filename: "c.hcl", Start: hcl.Pos{Byte: 0}, End: hcl.Pos{Byte: 1 << 20}}})
			if got := string(files["c.hcl"].Bytes); got != tt.want {
				t.Errorf("masked %q, want %q", got, tt.want)
			}
			if got := string(files["other.hcl"].Bytes); got != tt.src {
				t.Errorf("another file changed: %q", got)
			}
		})
	}
}

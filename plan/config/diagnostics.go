package config

import (
	"encoding/json"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// WriteDiagnostics prints diagnostics the way Terraform does: severity and
// summary, file:line:col, the source lines with the problem underlined, and
// the detail. color adds ANSI colours.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, width uint, color bool) error {
	if width == 0 {
		width = 100
	}
	return hcl.NewDiagnosticTextWriter(w, files, width, color).WriteDiagnostics(diags)
}

// JSONFormatVersion is the version of the JSON diagnostics document; it
// changes only when a field changes meaning or disappears.
const JSONFormatVersion = "1"

// JSONDiagnostics is the machine-readable form of validate's result.
type JSONDiagnostics struct {
	FormatVersion string           `json:"format_version"`
	Valid         bool             `json:"valid"`
	ErrorCount    int              `json:"error_count"`
	WarningCount  int              `json:"warning_count"`
	Diagnostics   []JSONDiagnostic `json:"diagnostics"`
}

// JSONDiagnostic is one diagnostic.
type JSONDiagnostic struct {
	Severity string     `json:"severity"` // "error" or "warning"
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *JSONRange `json:"range,omitempty"`
	// Snippet is the first source line of the range.
	Snippet string `json:"snippet,omitempty"`
}

// JSONRange is a source range; lines and columns start at 1, byte at 0.
type JSONRange struct {
	Filename string  `json:"filename"`
	Start    JSONPos `json:"start"`
	End      JSONPos `json:"end"`
}

// JSONPos is a position in a file.
type JSONPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// WriteJSONDiagnostics prints diagnostics as a JSONDiagnostics document.
func WriteJSONDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	doc := JSONDiagnostics{FormatVersion: JSONFormatVersion, Valid: !diags.HasErrors(), Diagnostics: []JSONDiagnostic{}}
	for _, d := range diags {
		jd := JSONDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
			doc.WarningCount++
		} else {
			doc.ErrorCount++
		}
		if s := d.Subject; s != nil {
			jd.Range = &JSONRange{
				Filename: s.Filename,
				Start:    JSONPos{Line: s.Start.Line, Column: s.Start.Column, Byte: s.Start.Byte},
				End:      JSONPos{Line: s.End.Line, Column: s.End.Column, Byte: s.End.Byte},
			}
			if f := files[s.Filename]; f != nil {
				lines := strings.Split(string(f.Bytes), "\n")
				if s.Start.Line >= 1 && s.Start.Line <= len(lines) {
					jd.Snippet = lines[s.Start.Line-1]
				}
			}
		}
		doc.Diagnostics = append(doc.Diagnostics, jd)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

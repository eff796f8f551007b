package config

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/hactl/hactl/providers"
)

// WriteDiagnostics prints diagnostics the way Terraform does: severity and
// summary, file:line:col, the source lines with the problem underlined, and
// the detail. color adds ANSI colours.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, width uint, color bool) error {
	if width == 0 {
		width = 100
	}
	return hcl.NewDiagnosticTextWriter(w, files, width, color).WriteDiagnostics(Dedupe(diags))
}

// Dedupe drops the diagnostics that repeat an earlier one (same severity,
// summary, detail and place): compiling a spec per node finds a problem of
// the shared configuration, like a missing key file, once per node.
func Dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	type key struct {
		sev             hcl.DiagnosticSeverity
		summary, detail string
		subject         hcl.Range
	}
	seen := map[key]bool{}
	out := make(hcl.Diagnostics, 0, len(diags))
	for _, d := range diags {
		k := key{sev: d.Severity, summary: d.Summary, detail: d.Detail}
		if d.Subject != nil {
			k.subject = *d.Subject
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// explainUndeclared rewrites HCL's "This object does not have an attribute
// named …" for var.NAME and local.NAME — which says neither what is missing
// nor what was meant — into "no variable NAME", with a "did you mean" as
// blocks and references have. declared maps "var" and "local" to every
// name declared, valued or not.
func explainUndeclared(diags hcl.Diagnostics, declared map[string][]string) {
	for _, d := range diags {
		if d.Summary != "Unsupported attribute" || d.Expression == nil || d.Subject == nil {
			continue
		}
		for _, trav := range d.Expression.Variables() {
			names, ok := declared[trav.RootName()]
			if !ok || len(trav) < 2 {
				continue
			}
			step, ok := trav[1].(hcl.TraverseAttr)
			if !ok || step.SrcRange != *d.Subject || slices.Contains(names, step.Name) {
				continue
			}
			kind, how := "variable", fmt.Sprintf("Declare it with a variable %q { } block.", step.Name)
			if trav.RootName() == "local" {
				kind, how = "local value", "Define it in a locals { } block."
			}
			d.Summary = "Reference to undeclared " + kind
			switch sug := providers.Suggest(step.Name, names); {
			case sug != "":
				d.Detail = fmt.Sprintf("There is no %s named %q. Did you mean %s.%s?", kind, step.Name, trav.RootName(), sug)
			case len(names) > 0:
				d.Detail = fmt.Sprintf("There is no %s named %q (there are %s). %s", kind, step.Name, strings.Join(names, ", "), how)
			default:
				d.Detail = fmt.Sprintf("There is no %s named %q. %s", kind, step.Name, how)
			}
		}
	}
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
	for _, d := range Dedupe(diags) {
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

package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// JSONFormatVersion versions the JSON documents of plan, drift and status.
const JSONFormatVersion = "1"

// Styles colour the human output; the zero value prints plain text.
type Styles struct {
	Add, Change, Remove, Host, Error, Dim lipgloss.Style
	enabled                               bool
}

// ColorStyles are the styles for a terminal.
func ColorStyles() Styles {
	return Styles{
		Add:     lipgloss.NewStyle().Foreground(lipgloss.Color("2")),
		Change:  lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
		Remove:  lipgloss.NewStyle().Foreground(lipgloss.Color("1")),
		Host:    lipgloss.NewStyle().Bold(true),
		Error:   lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		Dim:     lipgloss.NewStyle().Faint(true),
		enabled: true,
	}
}

func (s Styles) render(st lipgloss.Style, text string) string {
	if !s.enabled {
		return text
	}
	return st.Render(text)
}

// line colours a change line by its leading sign.
func (s Styles) line(text string) string {
	switch {
	case strings.HasPrefix(text, "+"):
		return s.render(s.Add, text)
	case strings.HasPrefix(text, "~"):
		return s.render(s.Change, text)
	case strings.HasPrefix(text, "-"):
		return s.render(s.Remove, text)
	}
	return text
}

// actionWords and actionSigns are how the human plan shows each action:
// like Terraform, + puts something on a host, - takes it away, ~ changes
// what is there; the sign picks the colour.
var actionWords = map[Action]string{
	InstallAgent: "install agent",
	UpgradeAgent: "upgrade agent",
	UpdateSpec:   "update spec",
	UpdateSecret: "update secrets",
	StartAgent:   "start agent",
	RemoveAgent:  "remove hactl",
}

var actionSigns = map[Action]string{
	InstallAgent: "+",
	RemoveAgent:  "-",
}

func actionSign(a Action) string {
	if s, ok := actionSigns[a]; ok {
		return s
	}
	return "~"
}

// WithoutHost drops the host's name from the front of msg and of every
// cause wrapped in it ("a: probing: a: exit 1"), for output that already
// starts the line with the host.
func WithoutHost(node, msg string) string {
	msg = strings.TrimPrefix(msg, node+": ")
	return strings.ReplaceAll(msg, ": "+node+": ", ": ")
}

// WriteText prints the plan for people.
func (p *Plan) WriteText(w io.Writer, st Styles) {
	p.writeHosts(w, st)
	install, change, remove := p.counts()
	switch {
	case p.HasErrors():
		fmt.Fprintln(w, "\nSome hosts could not be observed; their plan is unknown.")
	case len(p.Refusals()) > 0:
		fmt.Fprintf(w, "\nRefused: the hosts cannot run %s as configured (marked Refused); apply will not start until the configuration or the hosts change.\n", count(len(p.Refusals()), "thing"))
	case install+change+remove == 0 && p.unaccounted() > 0:
		fmt.Fprintf(w, "\nNo changes to apply, but the hosts have %s the configuration does not account for (marked !): apply leaves them; remove them by hand or configure them.\n", count(p.unaccounted(), "thing"))
	case install+change+remove == 0:
		fmt.Fprintln(w, "\nNo changes. The hosts match the configuration.")
	default:
		fmt.Fprintf(w, "\nPlan: %d to install, %d to change, %d to remove (of %s).\n", install, change, remove, count(len(p.Hosts), "host"))
	}
}

// WriteDestroyText prints a destroy plan for people: which hosts lose
// hactl, and what goes with it.
func (p *Plan) WriteDestroyText(w io.Writer, st Styles) {
	p.writeHosts(w, st)
	hosts := p.Changed()
	switch {
	case p.HasErrors():
		fmt.Fprintln(w, "\nSome hosts could not be observed; what destroy would remove there is unknown.")
	case len(hosts) == 0:
		fmt.Fprintln(w, "\nNothing to destroy: hactl is on none of the hosts.")
	default:
		fmt.Fprintf(w, "\nDestroy: hactl will be removed from %s (%s).\n", count(len(hosts), "host"), strings.Join(hosts, ", "))
	}
}

func (p *Plan) writeHosts(w io.Writer, st Styles) {
	for _, h := range p.Hosts {
		switch {
		case h.Error != "":
			fmt.Fprintf(w, "%s %s\n", st.render(st.Host, h.Node+":"), st.render(st.Error, "cannot be observed: "+WithoutHost(h.Node, h.Error)))
		case len(h.Changes) == 0:
			fmt.Fprintf(w, "%s %s\n", st.render(st.Host, h.Node+":"), st.render(st.Dim, "no changes"))
		default:
			fmt.Fprintf(w, "%s\n", st.render(st.Host, h.Node+":"))
			for _, c := range h.Changes {
				fmt.Fprintf(w, "  %s\n", st.line(actionSign(c.Action)+" "+actionWords[c.Action]))
				for _, d := range c.Details {
					fmt.Fprintf(w, "      %s\n", st.line(d))
				}
			}
		}
		for _, note := range h.Notes {
			fmt.Fprintf(w, "  %s %s\n", st.render(st.Dim, "Note:"), note)
		}
		for _, r := range h.Refused {
			fmt.Fprintf(w, "  %s %s\n", st.render(st.Error, "Refused:"), r)
		}
		for _, warning := range h.Warnings {
			fmt.Fprintf(w, "  %s %s\n", st.render(st.Change, "Warning:"), warning)
		}
		for _, u := range h.Unaccounted {
			fmt.Fprintf(w, "  %s\n", st.render(st.Error, "! "+u))
		}
	}
}

// unaccounted counts what the hosts run outside the configuration.
func (p *Plan) unaccounted() int {
	n := 0
	for _, h := range p.Hosts {
		n += len(h.Unaccounted)
	}
	return n
}

// counts sorts the hosts that change: hactl installed (a first agent),
// removed, or changed in place.
func (p *Plan) counts() (install, change, remove int) {
	for _, h := range p.Hosts {
		actions := map[Action]bool{}
		for _, c := range h.Changes {
			actions[c.Action] = true
		}
		switch {
		case len(actions) == 0:
		case actions[InstallAgent]:
			install++
		case actions[RemoveAgent]:
			remove++
		default:
			change++
		}
	}
	return install, change, remove
}

// Changed lists the hosts the plan changes, by name.
func (p *Plan) Changed() []string {
	var out []string
	for _, h := range p.Hosts {
		if len(h.Changes) > 0 {
			out = append(out, h.Node)
		}
	}
	return out
}

// count says "1 host", "2 hosts".
func count(n int, noun string) string {
	if n != 1 {
		noun += "s"
	}
	return fmt.Sprintf("%d %s", n, noun)
}

// SavedPlan is the JSON document of `plan --json` and `plan --out`.
type SavedPlan struct {
	FormatVersion string `json:"format_version"`
	// Config identifies the configuration the plan was made from: the
	// spec hash of every node.
	Config map[string]string `json:"desired_spec_hashes"`
	Plan
}

// Save returns the plan as a SavedPlan.
func (p *Plan) Save(desired []*Desired) *SavedPlan {
	sp := &SavedPlan{FormatVersion: JSONFormatVersion, Config: map[string]string{}, Plan: *p}
	for _, d := range desired {
		sp.Config[d.Node] = d.SpecHash + "+" + d.AgentSHA256
	}
	return sp
}

// WriteJSON prints v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Stale says why a saved plan no longer fits, or "" when it still does.
func (sp *SavedPlan) Stale(desired []*Desired, observed map[string]*Observed) string {
	now := (&Plan{}).Save(desired)
	for node, want := range sp.Config {
		if now.Config[node] != want {
			return fmt.Sprintf("the configuration of %s changed since the plan was made", node)
		}
	}
	if len(now.Config) != len(sp.Config) {
		return "the configuration's nodes changed since the plan was made"
	}
	for _, h := range sp.Hosts {
		o := observed[h.Node]
		if o == nil || o.Fingerprint() != h.Fingerprint {
			return fmt.Sprintf("host %s changed since the plan was made", h.Node)
		}
	}
	return ""
}

// WriteDriftText prints drift findings for people.
func WriteDriftText(w io.Writer, items []DriftItem, st Styles) {
	if len(items) == 0 {
		fmt.Fprintln(w, "No drift: every host runs what was last applied, and that is the configuration.")
		return
	}
	for _, it := range items {
		tag := map[DriftKind]lipgloss.Style{HandChange: st.Remove, Pending: st.Change, Unreachable: st.Error}[it.Kind]
		fmt.Fprintf(w, "%s %s %s\n", st.render(st.Host, it.Node+":"), st.render(tag, "["+string(it.Kind)+"]"), it.What)
		for _, d := range it.Details {
			fmt.Fprintf(w, "      %s\n", st.line(d))
		}
	}
}

// WriteDriftMarkdown prints drift findings as a Markdown table, for a CI
// job summary.
func WriteDriftMarkdown(w io.Writer, items []DriftItem) {
	fmt.Fprintln(w, "### hactl drift")
	fmt.Fprintln(w)
	if len(items) == 0 {
		fmt.Fprintln(w, "No drift.")
		return
	}
	fmt.Fprintln(w, "| node | kind | what |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, it := range items {
		what := it.What
		if len(it.Details) > 0 {
			what += "<br>" + strings.Join(it.Details, "<br>")
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", it.Node, it.Kind, strings.ReplaceAll(what, "|", `\|`))
	}
}

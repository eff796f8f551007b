package providers

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// NameSyntax is the one syntax of every block label (node "h2g", vip
// "www", snmp_device "sw1"…), as a regular expression. Labels become file
// names on the hosts (secrets, state), parts of commands, nftables and
// systemd names and environment values, so they are kept to what is a
// plain word in all of these: a letter or underscore, then up to 62
// letters, digits, underscores, dots and hyphens. Dots are there for
// VLAN devices (eth0.100) and host names; a name can never be "." or
// "..", start with "-" (an option to a command), or hold a slash, a quote,
// a space or a shell character.
const NameSyntax = `^[A-Za-z_][A-Za-z0-9_.-]{0,62}$`

var namePattern = regexp.MustCompile(NameSyntax)

// ValidName says whether s is a valid block label.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// NameProblem says what is wrong with s as a block label, or "" when
// nothing is.
func NameProblem(s string) string {
	switch {
	case ValidName(s):
		return ""
	case s == "":
		return "the name is empty"
	case !utf8.ValidString(s):
		return fmt.Sprintf("%q is not valid UTF-8", s)
	case len(s) > 63:
		return fmt.Sprintf("%q is %d characters long; at most 63 are allowed", s, len(s))
	case !isNameStart(s[0]):
		return fmt.Sprintf("%q starts with %q; a name starts with a letter or _", s, rune(s[0]))
	}
	for _, r := range s {
		if !isNameChar(r) {
			return fmt.Sprintf("%q holds %q, which is not allowed in a name", s, r)
		}
	}
	return fmt.Sprintf("%q is not a valid name", s)
}

func isNameStart(b byte) bool {
	return b == '_' || ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z')
}

func isNameChar(r rune) bool {
	return r < 0x80 && (isNameStart(byte(r)) || r == '.' || r == '-' || ('0' <= r && r <= '9'))
}

// checkLabels reports every label of blk that is not a valid name, at the
// label itself.
func (d *Decoder) checkLabels(blk *hcl.Block, spec *Block) {
	for i, label := range blk.Labels {
		problem := NameProblem(label)
		if problem == "" {
			continue
		}
		what := "label"
		if i < len(spec.Labels) {
			what = spec.Labels[i]
		}
		rng := blk.DefRange
		if i < len(blk.LabelRanges) {
			rng = blk.LabelRanges[i]
		}
		d.Error(rng, fmt.Sprintf("Invalid %s %s", spec.Type, what),
			fmt.Sprintf("%s. A %s's %s becomes a file name and a word of commands on the hosts, so it must match %s: a letter or _, then up to 62 letters, digits, _, . or -, like %q.",
				upperFirst(problem), spec.Type, what, NameSyntax, exampleName(spec)))
	}
}

// exampleName is a valid label for messages, from the block's example when
// it has one.
func exampleName(spec *Block) string {
	if _, rest, ok := strings.Cut(spec.Example, `"`); ok {
		if name, _, ok := strings.Cut(rest, `"`); ok && ValidName(name) {
			return name
		}
	}
	return "web1"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Package keepalived imports keepalived.conf: VRRP instances and sync
// groups become hactl groups with their VIPs, notify scripts become notify
// blocks, the VRRP password becomes the cluster key, and virtual_server
// blocks (with every checker kind) become virtual services. Each file
// named on the command line is one host's configuration; its include
// directives are followed with loop and depth limits.
package keepalived

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hactl/hactl/importer"
)

// Limits on what an input can make the parser do.
const (
	maxIncludeDepth = 8
	maxBlockDepth   = 16
	maxIncluded     = 256       // files read through include, per host
	maxTotalBytes   = 32 << 20  // bytes read through include, per host
	maxNodes        = 1_000_000 // statements, per host
)

// node is one statement: a keyword, its arguments, and its block.
type node struct {
	key      string
	args     []string
	children []*node
	block    bool
	origin   importer.Origin
}

func (n *node) arg(i int) string {
	if i < len(n.args) {
		return n.args[i]
	}
	return ""
}

// tokens splits a line into words, quoted strings and braces, dropping
// comments (# or ! to the end of the line).
func tokens(line string) []string {
	var out []string
	var cur strings.Builder
	inQuote, has := false, false
	flush := func() {
		if has {
			out = append(out, cur.String())
		}
		cur.Reset()
		has = false
	}
	for _, r := range line {
		switch {
		case inQuote && r == '"':
			inQuote = false
		case inQuote:
			cur.WriteRune(r)
		case r == '"':
			inQuote, has = true, true
		case r == '#' || r == '!':
			flush()
			return out
		case r == '{' || r == '}':
			flush()
			out = append(out, string(r))
		case r == ' ' || r == '\t' || r == '\r':
			flush()
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	flush()
	return out
}

// parser builds the statement tree of one host's configuration, reading
// included files in place.
type parser struct {
	m       *importer.Model
	root    *node
	stack   []*node
	chain   []string // files being read, outermost first: include loops
	files   int
	bytes   int
	count   int
	stopped bool
}

func parseHost(m *importer.Model, s *importer.Source) *node {
	p := &parser{m: m, root: &node{block: true, origin: importer.Origin{File: s.Name}}}
	p.stack = []*node{p.root}
	p.source(s)
	if len(p.stack) > 1 && !p.stopped {
		open := p.stack[len(p.stack)-1]
		m.Invalid(open.origin, "Unclosed block", fmt.Sprintf("%s { is never closed: the file ends first (a missing }).", open.key))
	}
	return p.root
}

func (p *parser) source(s *importer.Source) {
	p.m.AddSource(s)
	abs, _ := filepath.Abs(s.Name)
	p.chain = append(p.chain, abs)
	defer func() { p.chain = p.chain[:len(p.chain)-1] }()
	baseDepth := len(p.stack)
	for i, line := range s.Lines() {
		if p.stopped {
			return
		}
		o := importer.Origin{File: s.Name, Line: i + 1}
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "@") {
			p.m.Invalid(o, "Conditional configuration line", "Lines starting with @ID apply only when keepalived runs with -i ID; the import cannot tell which host this file is for. Remove the lines of the other hosts (and the @ID prefix) and import again.")
			continue
		}
		toks := tokens(line)
		for len(toks) > 0 && !p.stopped {
			toks = p.statement(toks, o, baseDepth)
		}
	}
}

// statement consumes one statement's tokens of a line and returns the
// rest of the line.
func (p *parser) statement(toks []string, o importer.Origin, baseDepth int) []string {
	cur := p.stack[len(p.stack)-1]
	switch toks[0] {
	case "}":
		if len(p.stack) <= baseDepth {
			p.m.Invalid(o, "Unbalanced }", "This } closes no block (of this file).")
			return toks[1:]
		}
		p.stack = p.stack[:len(p.stack)-1]
		return toks[1:]
	case "{":
		if len(cur.children) == 0 {
			p.m.Invalid(o, "Block without a keyword", "A { must follow a keyword, such as vrrp_instance NAME {.")
			p.stopped = true
			return nil
		}
		p.open(cur.children[len(cur.children)-1], o)
		return toks[1:]
	}
	if p.count++; p.count > maxNodes {
		p.m.Invalid(o, "Configuration too large", fmt.Sprintf("More than %d statements; the import stops here.", maxNodes))
		p.stopped = true
		return nil
	}
	n := &node{key: toks[0], origin: o}
	i := 1
	for ; i < len(toks) && toks[i] != "{" && toks[i] != "}"; i++ {
		n.args = append(n.args, toks[i])
	}
	if n.key == "include" {
		p.include(n)
		return toks[i:]
	}
	cur.children = append(cur.children, n)
	if i < len(toks) && toks[i] == "{" {
		p.open(n, o)
		i++
	}
	return toks[i:]
}

func (p *parser) open(n *node, o importer.Origin) {
	if len(p.stack) > maxBlockDepth {
		p.m.Invalid(o, "Blocks nested too deep", fmt.Sprintf("More than %d levels of { }; keepalived's configuration has at most five.", maxBlockDepth))
		p.stopped = true
		return
	}
	n.block = true
	p.stack = append(p.stack, n)
}

func kernelFS(abs string) bool {
	for _, dir := range []string{"/proc/", "/sys/", "/dev/"} {
		if strings.HasPrefix(abs, dir) {
			return true
		}
	}
	return false
}

// include reads the files a glob names, relative to the including file.
func (p *parser) include(n *node) {
	if len(n.args) != 1 {
		p.m.Invalid(n.origin, "Bad include", "include takes one path or glob pattern.")
		return
	}
	if len(p.chain) > maxIncludeDepth {
		p.m.Invalid(n.origin, "Includes nested too deep", fmt.Sprintf("More than %d levels of include.", maxIncludeDepth))
		return
	}
	pattern := n.args[0]
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(n.origin.File), pattern)
	}
	matches, err := filepath.Glob(pattern)
	if err != nil || len(matches) == 0 {
		p.m.Invalid(n.origin, "Include matches no file", fmt.Sprintf("%s names no readable file (keepalived skips it, the import refuses to guess). Import on a copy of the host's /etc/keepalived, or remove the line.", pattern))
		return
	}
	sort.Strings(matches)
	for _, f := range matches {
		abs, _ := filepath.Abs(f)
		if kernelFS(abs) {
			// Files there are endless or block on reading (/proc/kmsg).
			p.m.Invalid(n.origin, "Include of a kernel file", fmt.Sprintf("%s is under /proc, /sys or /dev, not a configuration file.", f))
			continue
		}
		for _, c := range p.chain {
			if c == abs {
				p.m.Invalid(n.origin, "Include loop", fmt.Sprintf("%s includes %s, which is already being read (%s).", n.origin.File, f, strings.Join(p.chain, " → ")))
				return
			}
		}
		if p.files++; p.files > maxIncluded {
			p.m.Invalid(n.origin, "Too many included files", fmt.Sprintf("More than %d files through include.", maxIncluded))
			p.stopped = true
			return
		}
		st, err := os.Stat(f)
		if err != nil || !st.Mode().IsRegular() {
			// Directories, devices and FIFOs are no configuration, and
			// reading a FIFO or /dev/stdin would block.
			p.m.Invalid(n.origin, "Include of something not a file", fmt.Sprintf("%s is not a regular file; the import reads only regular files.", f))
			continue
		}
		if p.bytes += int(st.Size()); p.bytes > maxTotalBytes {
			p.m.Invalid(n.origin, "Included files too large", fmt.Sprintf("More than %d bytes through include.", maxTotalBytes))
			p.stopped = true
			return
		}
		s, err := importer.ReadSource(f)
		if err != nil {
			p.m.Invalid(n.origin, "Cannot read included file", err.Error())
			continue
		}
		p.source(s)
	}
}

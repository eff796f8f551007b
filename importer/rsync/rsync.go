// Package rsync imports rsync command lines — typed by hand, in a script,
// or run from a crontab line — as sync blocks. The command's local side
// is the first node given with --node (the host the command runs on);
// the remote side is found by address or name.
package rsync

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/hactl/hactl/importer"
)

// Import reads each file's lines as rsync commands or crontab entries.
func Import(m *importer.Model, srcs []*importer.Source) {
	local := ""
	if len(m.Opts.Nodes) > 0 {
		if na, err := importer.ParseNodeFlag(m.Opts.Nodes[0]); err == nil {
			local = na[0].Node
		}
	}
	for _, s := range srcs {
		m.AddSource(s)
		for i, line := range s.Lines() {
			t := strings.TrimSpace(line)
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			o := importer.Origin{File: s.Name, Line: i + 1}
			words, err := shellWords(t)
			if err != nil {
				m.Invalid(o, "Unreadable command line", err.Error())
				continue
			}
			importLine(m, words, local, o)
		}
	}
}

// shellWords splits a command line as sh would, for quotes and
// backslashes (no expansions).
func shellWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	has := false
	quote := rune(0)
	esc := false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc, has = false, true
		case quote == 0 && r == '\\', quote == '"' && r == '\\':
			esc = true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, has = r, true
		case r == ' ' || r == '\t':
			if has {
				out = append(out, cur.String())
			}
			cur.Reset()
			has = false
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	if quote != 0 || esc {
		return nil, fmt.Errorf("unterminated quote or trailing backslash")
	}
	if has {
		out = append(out, cur.String())
	}
	return out, nil
}

// cronInterval turns a crontab schedule into a sync interval, when it is
// a plain period.
func cronInterval(f []string) (string, bool) {
	minute, hour, rest := f[0], f[1], f[2:5]
	for _, x := range rest {
		if x != "*" {
			return "", false
		}
	}
	switch {
	case strings.HasPrefix(minute, "*/") && hour == "*":
		n, err := strconv.Atoi(minute[2:])
		return fmt.Sprintf("%dm", n), err == nil && n > 0
	case minute == "*" && hour == "*":
		return "1m", true
	case isNum(minute) && hour == "*":
		return "1h", true
	case isNum(minute) && strings.HasPrefix(hour, "*/"):
		n, err := strconv.Atoi(hour[2:])
		return fmt.Sprintf("%dh", n), err == nil && n > 0
	case isNum(minute) && isNum(hour):
		return "1d", true
	}
	return "", false
}

func isNum(s string) bool { _, err := strconv.Atoi(s); return err == nil }

func importLine(m *importer.Model, w []string, local string, o importer.Origin) {
	s := &importer.Sync{Origin: o, Trigger: "change"}
	cron := false
	if len(w) > 5 && !strings.Contains(path.Base(w[0]), "rsync") {
		if iv, ok := cronInterval(w[:5]); ok {
			s.Trigger, s.Interval, cron = "interval", iv, true
			w = w[5:]
		} else if strings.ContainsAny(w[0], "*0123456789@") {
			m.Differs(o, "crontab schedule "+strings.Join(w[:5], " "), "hactl syncs every interval, not at times of day; the import syncs on change instead (with a full pass every 5 minutes).")
			w = w[5:]
			cron = true
		}
	}
	i := slices.IndexFunc(w, func(x string) bool { return path.Base(x) == "rsync" })
	if i < 0 {
		m.Unsupported(o, w[0], "Not an rsync command; the import reads rsync command lines and crontab entries that run rsync.")
		return
	}
	if !cron {
		m.Translated(o, "rsync run by hand", "hactl keeps the target in step by itself: it syncs when files change on the source (inotify), with a full pass every 5 minutes.")
	}
	var args []string
	for j := i + 1; j < len(w); j++ {
		a := w[j]
		name, val, hasVal := strings.Cut(a, "=")
		needsVal := func() string {
			if hasVal {
				return val
			}
			if j+1 < len(w) {
				j++
				return w[j]
			}
			return ""
		}
		switch {
		case name == "--delete" || name == "--delete-after" || name == "--delete-during" || name == "--delete-before" || name == "--delete-delay":
			s.Delete = true
		case name == "--exclude":
			s.Excludes = append(s.Excludes, needsVal())
		case name == "--bwlimit":
			v := needsVal()
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				m.Invalid(o, "Bad --bwlimit", fmt.Sprintf("%q is not a number of KiB per second.", v))
				continue
			}
			if n%1024 == 0 {
				s.Bwlimit = fmt.Sprintf("%dM", n/1024)
			} else {
				s.Bwlimit = fmt.Sprintf("%dK", n)
			}
		case name == "--checksum":
			s.Checksum = true
		case name == "-e" || name == "--rsh":
			if v := needsVal(); !strings.HasPrefix(path.Base(v), "ssh") {
				m.Differs(o, "-e "+v, "hactl's sync always runs over SSH with the cluster's host keys.")
			} else if v != "ssh" {
				m.Translated(o, "-e "+v, "hactl's sync uses the cluster's SSH settings (user, identity_file, known_hosts_file), not these options.")
			}
		case name == "--exclude-from" || name == "--include" || name == "--include-from" || name == "--filter" || name == "-f":
			m.Differs(o, name, "hactl's sync takes exclude patterns only; write them as excludes.")
			needsVal()
		case name == "--partial" || name == "--progress" || name == "-P" || name == "--stats" || name == "--numeric-ids" || name == "--inplace" || name == "-q" || name == "--quiet" || name == "-h" || name == "--human-readable":
			// Presentation and transfer details; hactl picks its own.
		case name == "-n" || name == "--dry-run":
			m.Differs(o, name, "This command changes nothing; hactl's sync does.")
		case strings.HasPrefix(a, "--"):
			m.Unsupported(o, a, "An rsync option hactl's sync does not set (it runs rsync -a with its own options).")
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for _, c := range a[1:] {
				switch c {
				case 'a', 'r', 'l', 'p', 't', 'g', 'o', 'D', 'z', 'v', 'h', 'P':
				case 'c':
					s.Checksum = true
				case 'e':
					if j+1 < len(w) {
						j++
					}
				default:
					m.Unsupported(o, "-"+string(c), "An rsync option hactl's sync does not set (it runs rsync -a with its own options).")
				}
			}
		default:
			args = append(args, a)
		}
	}
	if len(args) != 2 {
		m.Invalid(o, "rsync without one source and one destination", "The import reads rsync [OPTIONS] SOURCE DESTINATION with one source.")
		return
	}
	var hosts [2]string
	for k, a := range args {
		host, p := "", a
		if h, rest, ok := strings.Cut(a, ":"); ok && !strings.Contains(h, "/") {
			host, p = h, rest
			if _, after, ok := strings.Cut(host, "@"); ok {
				host = after
			}
		} else if local == "" {
			m.Invalid(o, "Local side of rsync without a node", "Name the host this command runs on with --node NAME=ADDRESS (the first --node is the local side).")
			return
		} else {
			host = local
		}
		if !strings.HasPrefix(p, "/") {
			m.Invalid(o, "Relative rsync path", fmt.Sprintf("%q is not an absolute path; hactl's sync needs absolute ones.", p))
			return
		}
		hosts[k] = host
		if k == 0 {
			s.SourcePath = p
		} else {
			s.TargetPath = p
		}
	}
	s.SourceHost, s.TargetHost = hosts[0], hosts[1]
	base := path.Base(strings.TrimSuffix(s.SourcePath, "/"))
	s.Name = m.Unique("sync", base)
	m.Syncs = append(m.Syncs, s)
}

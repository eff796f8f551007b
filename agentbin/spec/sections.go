package spec

import (
	"encoding/json"
	"slices"
	"strings"
)

// Section is a part of a spec that one agent role reads. A change to a
// role's section reloads or restarts that role alone; a change elsewhere
// leaves it running undisturbed.
type Section struct {
	// Role names the agent role that runs the section, in status, logs
	// and control requests.
	Role string
	// Blocks are the HCL block kinds the section is compiled from, for
	// messages to the operator.
	Blocks string
	// Runs is true when this version of the agent has the role.
	// agentbin/roles registers the roles, and a test there keeps the two
	// in step; until a role exists, hactl warns that its blocks are
	// accepted but not run. (The CLI cannot import the roles themselves:
	// they are Linux-only, and hactl also runs on macOS.)
	Runs bool
	// parts returns what the role reads of a spec, nil when the node has
	// nothing for it.
	parts func(*Spec) any
}

// Sections lists every part of a spec and the role that runs it, in the
// order the agent starts them (the heartbeat role first: the others follow
// its group events).
var Sections = []Section{
	{Role: "heartbeat", Blocks: "heartbeat, quorum and group", Runs: true, parts: func(s *Spec) any {
		if s.Heartbeat == nil {
			return nil
		}
		return struct {
			H *Heartbeat
			Q *Quorum
			G []Group
		}{s.Heartbeat, s.Quorum, s.Groups}
	}},
	{Role: "lvs", Blocks: "lvs", Runs: true, parts: func(s *Spec) any { return nilIfEmpty(s.VirtualServices) }},
	{Role: "proxy", Blocks: "proxy", Runs: true, parts: func(s *Spec) any { return nilIfEmpty(s.Proxies) }},
	{Role: "sync", Blocks: "sync", Runs: true, parts: func(s *Spec) any {
		if len(s.Syncs) == 0 && len(s.SyncReceives) == 0 {
			return nil
		}
		return struct {
			S []Sync
			R []SyncReceive
		}{s.Syncs, s.SyncReceives}
	}},
	{Role: "monitor", Blocks: "monitor", Runs: true, parts: func(s *Spec) any {
		if s.Monitor == nil {
			return nil
		}
		return s.Monitor
	}},
}

func nilIfEmpty[T any](list []T) any {
	if len(list) == 0 {
		return nil
	}
	return list
}

// SectionOf returns the section a role runs, or nil for an unknown role.
func SectionOf(role string) *Section {
	for i := range Sections {
		if Sections[i].Role == role {
			return &Sections[i]
		}
	}
	return nil
}

// Has says whether the spec gives the role anything to run.
func (s *Spec) Has(role string) bool {
	sec := SectionOf(role)
	return sec != nil && sec.parts(s) != nil
}

// SectionKey identifies what the role reads of the spec: its section and
// the digests of the secrets that section names (a rotated key restarts
// the role that uses it, and only that one). It is "" when the spec has
// nothing for the role.
func (s *Spec) SectionKey(role string) string {
	sec := SectionOf(role)
	if sec == nil {
		return ""
	}
	parts := sec.parts(s)
	if parts == nil {
		return ""
	}
	b, _ := json.Marshal(parts)
	var secrets []Secret
	for _, sec := range s.Secrets {
		quoted, _ := json.Marshal(sec.Path)
		if strings.Contains(string(b), string(quoted)) {
			secrets = append(secrets, sec)
		}
	}
	slices.SortFunc(secrets, func(a, b Secret) int { return strings.Compare(a.Path, b.Path) })
	key, _ := json.Marshal(struct {
		Parts   json.RawMessage
		Secrets []Secret
	}{b, secrets})
	return string(key)
}

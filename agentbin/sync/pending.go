package sync

import (
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"
)

// maxChangeDirs is the most directories a change run sends; beyond it a
// full comparison is cheaper than a long argument list.
const maxChangeDirs = 500

// maxChangeFiles is the most files a change run names one by one.
const maxChangeFiles = 20000

// change is a path (relative to the module's root) not yet on a target.
type change struct {
	first time.Time // when it first changed: the lag
	seq   uint64    // the latest change's number: a run clears only what it saw
}

// pending is what a target still needs.
type pending struct {
	paths map[string]change
	// full asks for a full comparison (start, interval, lost events).
	full bool
	// fullSince is when changes may have been missed (start, lost
	// events), zero for a routine comparison: the lag counts from it.
	fullSince time.Time
}

func (p *pending) add(rel string, now time.Time, seq uint64) {
	if p.paths == nil {
		p.paths = map[string]change{}
	}
	c, ok := p.paths[rel]
	if !ok {
		c.first = now
	}
	c.seq = seq
	p.paths[rel] = c
}

// askFull asks for a full comparison; missed says whether changes may
// have been missed since now (at start, after lost events), which the lag
// then counts, rather than a routine comparison.
func (p *pending) askFull(now time.Time, missed bool) {
	p.full = true
	if missed && p.fullSince.IsZero() {
		p.fullSince = now
	}
}

// oldest is when the oldest pending change happened, zero when none.
func (p *pending) oldest() time.Time {
	o := p.fullSince
	for _, c := range p.paths {
		if o.IsZero() || c.first.Before(o) {
			o = c.first
		}
	}
	return o
}

// done clears what a successful run that started at seq upTo sent.
func (p *pending) done(full bool, upTo uint64) {
	if full {
		p.full, p.fullSince = false, time.Time{}
	}
	for rel, c := range p.paths {
		if c.seq <= upTo {
			delete(p.paths, rel)
		}
	}
}

// due says whether the target should run now: a full comparison is asked
// for, or changes have been quiet for delay, or the oldest has waited
// four delays (a steady stream of writes does not postpone sending).
func (p *pending) due(now, lastEvent time.Time, delay time.Duration) bool {
	if p.full {
		return true
	}
	if len(p.paths) == 0 {
		return false
	}
	return now.Sub(lastEvent) >= delay || now.Sub(p.oldest()) >= 4*delay
}

// plan turns the pending paths into a transfer, looking at the source
// tree under root: a changed file is sent by name with its directory's
// own entry (its times), a changed path that is a directory is sent whole
// (it may be new, with content its watch missed), and a path gone from
// the source has its deletion sent by its nearest existing ancestor,
// shallow. Only deletions need a directory's listing: listing the
// directory of every change cost each run the file list of all its
// entries (a run per batch, in a directory of thousands of files).
func (p *pending) plan(root string) transfer {
	if p.full {
		return transfer{full: true, maxDelete: -1}
	}
	shallow, deep, files, dirs := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	vanished := false
	for rel := range p.paths {
		fi, err := os.Lstat(filepath.Join(root, rel))
		if err != nil {
			vanished = true
			dir := parent(rel)
			for dir != "" {
				if fi, err := os.Stat(filepath.Join(root, dir)); err == nil && fi.IsDir() {
					break
				}
				dir = parent(dir)
			}
			shallow[dir] = true
			continue
		}
		if fi.IsDir() {
			deep[rel] = true
			continue
		}
		files[rel] = true
		// The root's own entry cannot be named alone (rsync reads "." as
		// its content): its times wait for the next full comparison.
		if d := parent(rel); d != "" {
			dirs[d] = true
		}
	}
	// A directory sent whole covers what lies under it.
	for d := range deep {
		if d != "" && underAny(parent(d), deep) {
			delete(deep, d)
		}
	}
	for d := range dirs {
		if underAny(d, deep) {
			delete(dirs, d)
		}
	}
	if len(shallow)+len(deep) > maxChangeDirs || len(files) > maxChangeFiles {
		return transfer{full: true, maxDelete: -1}
	}
	return transfer{shallow: sortedKeys(shallow), deep: sortedKeys(deep), files: sortedKeys(files), dirs: sortedKeys(dirs), vanished: vanished, maxDelete: -1}
}

// underAny says whether rel or one of its ancestors is in set; "" is the
// root, the ancestor of all.
func underAny(rel string, set map[string]bool) bool {
	for a := rel; ; a = parent(a) {
		if set[a] {
			return true
		}
		if a == "" {
			return false
		}
	}
}

// parent is rel's directory, "" for the root.
func parent(rel string) string {
	d := path.Dir(rel)
	if d == "." || d == "/" {
		return ""
	}
	return d
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

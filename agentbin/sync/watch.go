package sync

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/fsnotify/fsnotify"
)

// watcher watches a tree recursively: one inotify watch per directory,
// added as directories appear (and their content reported, since it may
// have been written before the watch) and dropped as they go.
type watcher struct {
	root string
	w    *fsnotify.Watcher
	// changed receives each changed path, relative to root.
	changed func(rel string)
	// lost is called when events may have been missed (overflow, out of
	// watches): the caller falls back to full comparisons.
	lost func(why string)

	mu      sync.Mutex
	watches map[string]bool
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.watches)
}

func newWatcher(root string, changed func(string), lost func(string)) (*watcher, error) {
	w, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return nil, err
	}
	return &watcher{root: filepath.Clean(root), w: w, changed: changed, lost: lost, watches: map[string]bool{}}, nil
}

func (w *watcher) Close() error { return w.w.Close() }

// addTree watches dir and every directory under it; report says whether
// to report what it finds as changed.
func (w *watcher) addTree(dir string, report bool) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone meanwhile: its removal is an event of its own
			}
			return err
		}
		if report && p != dir {
			w.changed(w.rel(p))
		}
		if !d.IsDir() {
			return nil
		}
		if err := w.w.Add(p); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return errNoWatches
			}
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		w.mu.Lock()
		w.watches[p] = true
		w.mu.Unlock()
		return nil
	})
}

var errNoWatches = errors.New("the kernel has no inotify watches left (fs.inotify.max_user_watches)")

func (w *watcher) rel(p string) string {
	r, err := filepath.Rel(w.root, p)
	if err != nil || r == "." {
		return ""
	}
	return filepath.ToSlash(r)
}

// run handles events until done is closed or the watcher fails.
func (w *watcher) run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			w.handle(ev)
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.lost("the inotify event queue overflowed")
			} else {
				w.lost("watching failed: " + err.Error())
			}
		}
	}
}

func (w *watcher) handle(ev fsnotify.Event) {
	w.changed(w.rel(ev.Name))
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			if err := w.addTree(ev.Name, true); err != nil {
				w.lost(err.Error())
			}
		}
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		// inotify drops a removed directory's watch itself; a renamed
		// one keeps watching under its old name, so drop it and what
		// lies under it (the new name comes as a Create).
		prefix := ev.Name + string(filepath.Separator)
		w.mu.Lock()
		defer w.mu.Unlock()
		for p := range w.watches {
			if p == ev.Name || strings.HasPrefix(p, prefix) {
				_ = w.w.Remove(p)
				delete(w.watches, p)
			}
		}
	}
}

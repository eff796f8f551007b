package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// BaseDir holds one directory per lab, named after the lab.
const BaseDir = "/run/hactl-lab"

// stateFile is the lab's state, in its directory.
const stateFile = "state.json"

// dirOf returns a lab's state directory.
func dirOf(name string) string { return filepath.Join(BaseDir, name) }

// saveState writes the state file atomically.
func saveState(st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding lab state: %w", err)
	}
	return writeFileAtomic(filepath.Join(dirOf(st.Name), stateFile), b, 0o600)
}

// loadState reads a lab's state file.
func loadState(name string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dirOf(name), stateFile))
	if err != nil {
		return nil, fmt.Errorf("reading the state of lab %s: %w", name, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("decoding the state of lab %s: %w", name, err)
	}
	return &st, nil
}

// writeFileAtomic writes a file through a temporary file and a rename.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s: %w", tmp, err)
	}
	return nil
}

// List returns the names of the labs that have a state directory.
func List() ([]string, error) {
	entries, err := os.ReadDir(BaseDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing labs: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// lockLab takes the lab-wide lock that serialises changes to the labs
// (several `hactl lab` commands may run at once). It returns the unlock
// function.
func lockLab() (func(), error) {
	if err := os.MkdirAll(BaseDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", BaseDir, err)
	}
	f, err := os.OpenFile(filepath.Join(BaseDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the lab lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

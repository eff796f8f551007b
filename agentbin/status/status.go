// Package status is the agent's report of itself, written to
// /run/hactl/status.json and read by hactl plan, status and drift. Like the
// spec, it depends on the standard library only.
package status

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Status is what the agent reports.
type Status struct {
	AgentVersion string    `json:"agent_version"`
	PID          int       `json:"pid"`
	Started      time.Time `json:"started"`
	Updated      time.Time `json:"updated"`
	// SpecHash is the hash of the spec the agent runs; empty before the
	// first valid spec.
	SpecHash string `json:"spec_hash,omitempty"`
	// SpecFileHash is the hash of the spec file on disk now; it differs
	// from SpecHash when the file was changed or removed by hand.
	SpecFileHash string `json:"spec_file_hash,omitempty"`
	// SpecError says why the spec on disk is not the one running.
	SpecError string `json:"spec_error,omitempty"`
	// Healthy is true when the agent runs the spec on disk without error.
	Healthy bool `json:"healthy"`
	// Drift lists what the agent sees on the host that differs from its
	// spec (filled in by the roles).
	Drift []string `json:"drift,omitempty"`
}

// Write stores the status atomically (temp file and rename) at path.
func Write(path string, s *Status) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding status: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	return WriteFileAtomic(path, append(data, '\n'), 0o644)
}

// Read loads a status file.
func Read(path string) (*Status, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Status
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	return &s, nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory, fsynced and renamed over path, so readers see the old content
// or the new, never a mix.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	if werr == nil {
		werr = tmp.Chmod(mode)
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("writing %s: %w", path, werr)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

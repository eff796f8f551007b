package status

import (
	"os"
	"path/filepath"
	"testing"
)

// status.json carries resource agents' output: it is root's alone, also
// when an older agent left it world-readable (fails on main, which wrote
// it 0644).
func TestStatusIsReadableByRootAlone(t *testing.T) {
	tests := []struct {
		name   string
		before os.FileMode // 0: no file yet
	}{
		{name: "new file"},
		{name: "world-readable file of an older agent", before: 0o644},
		{name: "file anyone may write", before: 0o666},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "run", "status.json")
			if tt.before != 0 {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte("{}"), tt.before); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.before); err != nil {
					t.Fatal(err)
				}
			}
			if err := Write(path, &Status{AgentVersion: "v1", Healthy: true}); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("status.json has mode %04o; want 0600", st.Mode().Perm())
			}
			got, err := Read(path)
			if err != nil || got.AgentVersion != "v1" || !got.Healthy {
				t.Errorf("Read = %+v, %v", got, err)
			}
		})
	}
}

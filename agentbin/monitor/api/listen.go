package api

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
)

// SocketMode is the API socket's: root's alone, as the status file is
// (status.Mode), since the API serves the same status. The dashboard's SSH
// user must therefore be root to open it.
const SocketMode os.FileMode = 0o600

// ErrNotSocket is Listen's refusal to replace something at the path that is
// not a socket.
var ErrNotSocket = errors.New("exists and is not a socket")

// Listen opens the API's Unix socket at path with SocketMode, replacing a
// socket a previous run left behind. The directory is made 0755 if missing.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("monitor API socket: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("monitor API socket %s: %w", path, ErrNotSocket)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("monitor API socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("monitor API socket: %w", err)
	}
	if err := os.Chmod(path, SocketMode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("monitor API socket: %w", err)
	}
	return ln, nil
}

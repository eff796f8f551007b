package remote

import (
	"context"
	"fmt"
	"net"
)

// DialUnix opens a stream to the Unix socket at path on the target, through
// the SSH connection (OpenSSH's direct-streamlocal channel), so that a
// service listening only on a socket of the host is reached without
// exposing it on the network. sshd opens the socket as the login user:
// become does not apply, and a socket only root may open is refused to any
// other user; the error then says so.
func (c *Client) DialUnix(ctx context.Context, path string) (net.Conn, error) {
	conn, err := c.ssh.DialContext(ctx, "unix", path)
	if err == nil {
		return conn, nil
	}
	hint := "is the service that listens there running?"
	if c.user != "root" {
		hint = fmt.Sprintf("sshd opens the socket as %s, not as root: if the socket is root's, log in as root (become does not apply to sockets), or check that the service runs", c.user)
	}
	return nil, fmt.Errorf("%s: opening %s over SSH: %w (%s)", c.target.Name, path, err, hint)
}

package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"

	"golang.org/x/crypto/ssh"
)

// DialUnix opens a stream to the Unix socket at path on node through the
// session's SSH connection to it (remote.Client.DialUnix), dialing the node
// first if need be. A failure other than the host refusing the stream drops
// the connection, so that a node that went away and came back is dialed
// afresh on the next call: callers that poll need no reconnection logic.
func (s *Session) DialUnix(ctx context.Context, node, path string) (net.Conn, error) {
	for _, t := range s.Targets() {
		if t.Name != node {
			continue
		}
		c, err := s.client(ctx, t)
		if err != nil {
			return nil, err
		}
		conn, err := c.DialUnix(ctx, path)
		var refused *ssh.OpenChannelError
		if err != nil && !errors.As(err, &refused) {
			s.mu.Lock()
			if s.clients[node] == c {
				delete(s.clients, node)
			}
			s.mu.Unlock()
			c.Close()
		}
		return conn, err
	}
	return nil, fmt.Errorf("no node named %q in the configuration", node)
}

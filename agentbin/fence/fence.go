// Package fence powers off (or resets) a failed node before its resources
// are taken over — STONITH — through the configuration's fence devices:
// ssh, an operator's command, IPMI (ipmitool), Redfish (HTTP API) and the
// lab's emulated power switch.
package fence

import "context"

// Fencer fences one node.
type Fencer interface {
	// Fence returns nil only when the node is known to be off (or reset).
	Fence(ctx context.Context, node string) error
}

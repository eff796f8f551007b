// Package fence powers off (or resets) a failed node before its resources
// are taken over — STONITH — through the configuration's fence devices:
// ssh, an operator's command, IPMI (ipmitool), Redfish (HTTP API) and the
// lab's emulated power switch.
//
// New builds one Fencer from one spec.Fence. A Fencer's Fence returns nil
// only when the node is known to be off (or reset); any doubt is an error,
// because the heartbeat role takes a dead node's groups over only after a
// successful fence. Every Fence call is bounded by the device's TimeoutMS
// (30s by default). Errors are *Error values: they name the device, the
// node, the step that failed and what to check. Passwords and tokens are
// never written to errors or logs: they are only passed to the device (in a
// file for ipmitool, in a header for HTTP) and scrubbed from anything a
// device answers.
//
// What "fenced" means for each type:
//
//   - command: the operator's program (spec.Fence.Command, run without a
//     shell) gets the node name as $1 and HACTL_FENCE_ACTION=off|reboot in
//     its environment; exit status 0 means fenced. On timeout its whole
//     process group is killed.
//   - ssh: the node is told to power itself off over another path:
//     `ssh -o BatchMode=yes -o StrictHostKeyChecking=yes … USER@ADDRESS`
//     running `systemctl poweroff -f -f` (falling back to `poweroff -f`), or
//     `systemctl reboot -f -f` (falling back to `reboot -f`, then
//     `poweroff -f`). A host that powers off cannot report it, so success
//     is: the remote shell printed that it accepted the command, did not
//     exit with a refusal, and then the host's SSH port stopped answering
//     (refused or timed out twice in a row) within the timeout. This is the
//     weakest method: a host that is hung but still answers TCP cannot be
//     fenced by it, and fencing fails (which is the safe outcome).
//   - ipmi: `ipmitool -I lanplus -H ADDRESS -U USER -f PASSWORDFILE chassis
//     power off|cycle`. For off, the chassis power status is then polled
//     until it reads "off". For reboot, the BMC's acceptance of the power
//     cycle is the proof (the power is cut by the BMC itself); a chassis
//     that is already off also counts as fenced.
//   - redfish: over HTTPS to the BMC at ADDRESS, with basic auth: the system
//     is found under /redfish/v1/Systems (the only one, or the one whose Id,
//     Name or HostName is the node's name), then its
//     ComputerSystem.Reset action is posted with ResetType ForceOff or
//     ForceRestart. For off, PowerState is polled until "Off"; for reboot,
//     the accepted reset is the proof. A system already Off is fenced. TLS
//     certificates are verified unless Options.InsecureTLS is set, which a
//     BMC with a self-signed certificate needs.
//   - lab: the power switch of `hactl lab`. The lab writes
//     /etc/hactl-lab/pdu (address=IP:PORT and token=…) in every node and
//     serves LabPDUHandler on that address; the fencer posts /off/NODE or
//     /reboot/NODE with "Authorization: Bearer TOKEN", and the node is
//     fenced when the answer is 200 with the body "off".
package fence

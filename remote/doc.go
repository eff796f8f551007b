// Package remote is hactl's only way to touch a host: SSH connections with
// verified host keys, commands, atomic file uploads, bounded parallelism
// across hosts and per-host apply locks.
//
// It takes plain values — a [Target] (name, address and its own [SSH]
// login settings) and [Options] (the operator's flags) — and knows nothing
// of HCL, the topology or plans (a test keeps it so), so the planner, the
// CLI and the e2e lab drive it the same way; package plan/deploy turns
// topology nodes into targets.
//
// Connecting ([Dial]) follows OpenSSH's rules where hactl's users expect them:
// host keys are checked against known_hosts (hashed entries, wildcard and
// negated patterns and the [host]:port form included); host certificates
// are accepted when signed by a @cert-authority trusted for the host, and
// @revoked keys refused; a line that cannot be read is skipped with a
// warning, as OpenSSH does, rather than failing every host; a changed key is
// refused naming both fingerprints; an unknown host is refused unless the
// operator opted in to accept-new, and then the key is appended the way
// OpenSSH writes it (hashed when HashKnownHosts says so), under a file lock
// so parallel dials do not interleave. known_hosts is read by hactl's own
// parser (knownhosts.go) because x/crypto's knownhosts refuses a whole file
// for one bad line and counts a CA's key as the host's expected key. Authentication uses the
// ssh-agent and the identity files; ProxyJump-style jump hosts may be
// chained, and every hop's key is verified. A failed connection is a
// [*DialError] whose [FailureKind] tells refused, timed out, authentication
// and host-key failures apart.
//
// What a target leaves unset is taken from the operator's ssh_config
// ([SSHConfig], read with github.com/kevinburke/ssh_config): Host aliases,
// HostName, User, Port, IdentityFile, ProxyJump (jump hosts resolved
// through it too), UserKnownHostsFile and HashKnownHosts, as ssh and
// Ansible do.
//
// Commands are handed to sh -c by the login shell, which must be a POSIX
// one; with become (sudo or doas, never interactive) they are wrapped so a
// missing NOPASSWD rule is a clear [*BecomeError] rather than a hang. A
// command whose context ends is killed with its whole process group through
// a second session: sshd refuses SSH "signal" requests for root sessions, and
// closing the channel does not stop the command. Files land atomically: the
// bytes go to a temporary file next to the destination (or, with become, to
// a private staging directory first), the host checks their sha256, and
// only then are they chmod-ed, fsynced and renamed over the destination,
// whose directory is fsynced last; a destination that is a directory or a
// link to one is refused.
//
// [ForEach] runs work on many hosts with a bound and keeps every host's
// result; uploads are capped separately through [Options.Uploads]. Apply
// locks are directories created atomically on the host (mkdir) holding an
// owner.json file, so a second operator is told who holds the lock
// ([*LockedError]) and a dead run's lock can be removed with ForceUnlock.
package remote

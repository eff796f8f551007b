// Package sync is the agent's sync role: directories kept identical from a
// source node to its targets with real rsync over SSH (the guide's chapter
// 5.1), run by the source's agent and driven by changes.
//
// On a source, each module watches its tree (fsnotify, recursive: a watch
// per directory, added and removed as directories come and go), gathers
// changes for the module's delay, and sends only what changed: the changed
// files by name with their directories' entries, the directories where
// paths vanished without recursion (their deletions), new directories
// whole; compressed (rsync -az). A full comparison
// runs at start and every interval, so that changes made on a target by
// hand, or that a watch missed, are repaired. When the kernel runs out of
// watches or its event queue overflows, the module falls back to full runs
// and says so in status; it never stops.
//
// Nothing is lost silently: any rsync exit other than 0 (23 and 24
// included) keeps the changes pending and retries with backoff; status
// shows the pending paths, the lag and the last error per target, and a
// target that comes back catches up. With delete on, a run that would
// delete more than max_delete percent of a target's files stops before it
// deletes anything, until the operator confirms (hactl sync confirm).
//
// A sync whose source is a group runs on every location of the group and
// pushes only while the group runs here (the role is a GroupFollower): a
// run in flight is killed when the group stops. The first full run after
// the node became the source moves what it replaces or deletes on each
// target aside (rsync --backup-dir into keptDir): the former source's
// unsent changes are kept, not lost.
//
// Every driftPeriod, an idle target is compared read-only (rsync
// --dry-run --itemize-changes) for hactl drift.
//
// On a target, the role puts the module's public key in root's
// authorized_keys, restricted (restrict, command="rrsync -wo PATH") to
// writing into the target path; the source checks the target's host key
// against the keys hactl gave it, in a known_hosts of the module's own.
package sync

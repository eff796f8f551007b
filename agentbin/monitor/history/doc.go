// Package history keeps the monitor's metrics on disk the way RRDtool
// does: one fixed-size round-robin file per series, made once and then
// only overwritten in place, so that a year of history costs the same
// bytes on the first day as on the last.
//
// Each file holds four archives: 1-minute points for a day, 5-minute
// points for a week, 30-minute points for a month and 1-day points for
// two years, each point the average and the maximum of the primary
// points (one per collection, every step) that fell into its slot.
// A slot too few of whose primary points are known (RRDtool's xfiles
// factor, 0.5) is unknown, so a long outage shows as a gap and never as
// a line drawn across it. Counters are kept as per-second rates; a
// counter that went down (its source restarted, or it wrapped) or whose
// previous reading is older than two steps gives an unknown point,
// never a spike.
//
// Crash safety without fsync on every update. Every point is a 32-byte
// record at a fixed offset carrying the start time of its slot and a
// CRC-32C of itself: a record torn by a crash fails its checksum and
// reads as unknown, and a write never touches bytes outside its own
// record, so a power cut can cost at most the points not yet on disk but
// can never corrupt an earlier one. The store keeps the slots being
// filled and the counter state in memory and writes them once a minute,
// when a slot ends and on Close (a write per series per archive per
// collection was most of the monitor's CPU): a crash of the agent alone
// costs at most the last minute's points — rrdcached, which RRDtool
// users put in front of their files, buffers five. The counter state
// (last value and time, so rates continue across an agent restart) lives
// in two alternating checksummed slots with a sequence number; the newer
// valid one wins. The header (magic, series name) is written once, into
// a temporary file that is synced and renamed into place, so a file
// either exists whole or not at all. Files are synced on Close only: an
// fsync per series per collection would cost more CPU and disk I/O than
// all the collecting, and the kernel's writeback (30 s by default)
// bounds what a power cut can lose.
//
// File names are the hex SHA-256 of the series key (which holds quotes
// and braces and may hold anything a label value holds), never the key
// itself, so no series can name a path outside the store's directory.
package history

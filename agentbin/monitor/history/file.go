package history

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
)

// The file: a 4 KiB header written once, two 32-byte counter-state
// slots, then the four archives of 32-byte records, each archive a ring
// indexed by slot number modulo its rows.
const (
	magic      = "HACTLRR1"
	headerSize = 4096
	stateOff   = headerSize
	stateSize  = 32
	archiveOff = 8192
	recordSize = 32
	// maxName leaves room in the header for the magic, the name's
	// length and the checksum.
	maxName = headerSize - len(magic) - 4 - 4
	ext     = ".rrd"
)

// archive is one round-robin archive: rows slots of slot seconds.
type archive struct {
	slot int64
	rows int64
}

// archives are indexed by Span.
var archives = [...]archive{
	Day:   {slot: 60, rows: 24 * 60},
	Week:  {slot: 5 * 60, rows: 7 * 24 * 12},
	Month: {slot: 30 * 60, rows: 31 * 48},
	Year:  {slot: 24 * 3600, rows: 2 * 365},
}

// fileSize is the size of every series file, fixed at creation.
var fileSize = func() int64 {
	n := int64(archiveOff)
	for _, a := range archives {
		n += a.rows * recordSize
	}
	return n
}()

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// zeros is what a new file is filled with after its header; never
// written to.
var zeros [32 << 10]byte

// fileName is the series' file name: its key hashed, so that nothing a
// label value holds can reach the path.
func fileName(series string) string {
	sum := sha256.Sum256([]byte(series))
	return hex.EncodeToString(sum[:16]) + ext
}

// recordOffset is where the record of the slot starting at start lives.
func recordOffset(span Span, start int64) int64 {
	off := int64(archiveOff)
	for _, a := range archives[:span] {
		off += a.rows * recordSize
	}
	a := archives[span]
	row := floorDiv(start, a.slot) % a.rows
	if row < 0 {
		row += a.rows
	}
	return off + row*recordSize
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// record is one consolidated point as stored: the slot's start, the
// running average and maximum of its n known primary points.
type record struct {
	start    int64
	avg, max float64
	n        uint32
}

// encode writes the record into b, which must hold recordSize bytes,
// and returns them.
func (r record) encode(b []byte) []byte {
	b = b[:recordSize]
	binary.LittleEndian.PutUint64(b[0:], uint64(r.start))
	binary.LittleEndian.PutUint64(b[8:], math.Float64bits(r.avg))
	binary.LittleEndian.PutUint64(b[16:], math.Float64bits(r.max))
	binary.LittleEndian.PutUint32(b[24:], r.n)
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	return b
}

// decodeRecord reports false for a record never written or torn by a crash.
func decodeRecord(b []byte) (record, bool) {
	if crc32.Checksum(b[:28], castagnoli) != binary.LittleEndian.Uint32(b[28:]) {
		return record{}, false
	}
	return record{
		start: int64(binary.LittleEndian.Uint64(b[0:])),
		avg:   math.Float64frombits(binary.LittleEndian.Uint64(b[8:])),
		max:   math.Float64frombits(binary.LittleEndian.Uint64(b[16:])),
		n:     binary.LittleEndian.Uint32(b[24:]),
	}, true
}

// counterState is a counter's last reading, kept so that its rate
// continues across a restart. seq orders the two slots it alternates in.
type counterState struct {
	seq   uint64
	nanos int64
	value float64
}

// encode writes the state into b, which must hold stateSize bytes, and
// returns them.
func (s counterState) encode(b []byte) []byte {
	b = b[:stateSize]
	binary.LittleEndian.PutUint64(b[0:], s.seq)
	binary.LittleEndian.PutUint64(b[8:], uint64(s.nanos))
	binary.LittleEndian.PutUint64(b[16:], math.Float64bits(s.value))
	binary.LittleEndian.PutUint32(b[24:], crc32.Checksum(b[:24], castagnoli))
	return b
}

// newestState picks the newer valid slot of the two, and says which;
// ok is false when neither was ever written whole.
func newestState(b []byte) (best counterState, slot int, found bool) {
	for i := range 2 {
		s := b[i*stateSize : (i+1)*stateSize]
		if crc32.Checksum(s[:24], castagnoli) != binary.LittleEndian.Uint32(s[24:]) {
			continue
		}
		st := counterState{
			seq:   binary.LittleEndian.Uint64(s[0:]),
			nanos: int64(binary.LittleEndian.Uint64(s[8:])),
			value: math.Float64frombits(binary.LittleEndian.Uint64(s[16:])),
		}
		if !found || st.seq > best.seq {
			best, slot, found = st, i, true
		}
	}
	return best, slot, found
}

func encodeHeader(series string) []byte {
	b := make([]byte, headerSize)
	copy(b, magic)
	binary.LittleEndian.PutUint32(b[len(magic):], uint32(len(series)))
	copy(b[len(magic)+4:], series)
	binary.LittleEndian.PutUint32(b[headerSize-4:], crc32.Checksum(b[:headerSize-4], castagnoli))
	return b
}

func decodeHeader(b []byte) (string, error) {
	if len(b) < headerSize || string(b[:len(magic)]) != magic {
		return "", errors.New("not a hactl history file (bad magic)")
	}
	if crc32.Checksum(b[:headerSize-4], castagnoli) != binary.LittleEndian.Uint32(b[headerSize-4:]) {
		return "", errors.New("header checksum mismatch")
	}
	n := int(binary.LittleEndian.Uint32(b[len(magic):]))
	if n > maxName {
		return "", fmt.Errorf("series name length %d exceeds %d", n, maxName)
	}
	return string(b[len(magic)+4 : len(magic)+4+n]), nil
}

// createFile makes a series file whole or not at all: written and
// synced under a temporary name, then renamed into place (replacing an
// unreadable file of the same name, if any) and the directory synced.
func createFile(dir, series string) (*os.File, error) {
	if len(series) > maxName {
		return nil, fmt.Errorf("series name is %d bytes, more than the %d a history file holds", len(series), maxName)
	}
	final := filepath.Join(dir, fileName(series))
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating history file: %w", err)
	}
	// The rest is zeros, written from a shared block rather than a
	// file-sized buffer per series: a first start makes every series'
	// file at once, and those buffers were most of what it allocated.
	_, err = f.Write(encodeHeader(series))
	for left := fileSize - headerSize; err == nil && left > 0; left -= int64(len(zeros)) {
		_, err = f.Write(zeros[:min(left, int64(len(zeros)))])
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("creating history file %s: %w", final, err)
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

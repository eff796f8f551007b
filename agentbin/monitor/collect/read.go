package collect

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
)

// reader reads whole files into one buffer it keeps between reads: /proc
// files have no size to allocate for, and a monitor reads the same few
// every interval.
type reader struct {
	buf []byte
}

// read returns the content of path, valid until the next read.
func (r *reader) read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if r.buf == nil {
		r.buf = make([]byte, 0, 16<<10)
	}
	r.buf = r.buf[:0]
	for {
		if len(r.buf) == cap(r.buf) {
			r.buf = append(r.buf, 0)[:len(r.buf)]
		}
		n, err := f.Read(r.buf[len(r.buf):cap(r.buf)])
		r.buf = r.buf[:len(r.buf)+n]
		if errors.Is(err, io.EOF) {
			return r.buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// lines calls fn with each line of data, without its newline.
func lines(data []byte, fn func(line []byte)) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			fn(data)
			return
		}
		fn(data[:i])
		data = data[i+1:]
	}
}

// fields splits a line at runs of blanks into dst, reusing it.
func fields(dst [][]byte, line []byte) [][]byte {
	dst = dst[:0]
	start := -1
	for i, c := range line {
		blank := c == ' ' || c == '\t'
		switch {
		case blank && start >= 0:
			dst = append(dst, line[start:i])
			start = -1
		case !blank && start < 0:
			start = i
		}
	}
	if start >= 0 {
		dst = append(dst, line[start:])
	}
	return dst
}

// num parses a decimal field; a field that is not one counts as 0 (a
// kernel may add fields; it does not change the meaning of the old ones).
func num(b []byte) float64 {
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			f, err := strconv.ParseFloat(string(b), 64)
			if err != nil {
				return 0
			}
			return f
		}
		n = n*10 + uint64(c-'0')
	}
	return float64(n)
}

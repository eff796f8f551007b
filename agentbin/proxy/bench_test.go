package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// BenchmarkSmallRequest sends keep-alive GETs through the role to a
// backend answering four bytes, on loopback. Backend and client are raw
// sockets writing and reading fixed bytes, so that the time and the
// allocations per request are nearly all the proxy's:
//
//	go test ./agentbin/proxy -run '^$' -bench SmallRequest -benchmem -cpuprofile cpu.out
func BenchmarkSmallRequest(b *testing.B) {
	host, port, _ := net.SplitHostPort(rawBackend(b))
	p, _ := strconv.Atoi(port)
	px := httpProxy(b, spec.ProxyService{Name: "all", Backends: []spec.Backend{{Name: "web1", Kind: "regular", Address: host, Port: p, Weight: 1}}})
	px.NoAccessLog = true
	r, err := New([]spec.Proxy{px}, roleEnv())
	if err != nil {
		b.Fatal(err)
	}
	startRole(b, r, 1)
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", listenAddr(px.Listeners[0]))
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req := []byte("GET /small HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if err := readRaw(br); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	// Elapsed time per request is mostly waiting on loopback; the CPU
	// time the whole process took (proxy, backend, client) says what a
	// change costs or saves.
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is the user and system time this process has taken.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawBackend answers every request on a connection with four bytes, and
// returns its address.
func rawBackend(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nweb1")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, err := headLength(br); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// headLength reads up to the blank line that ends a head, and returns
// its Content-Length (0 when it has none).
func headLength(br *bufio.Reader) (int, error) {
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			return n, nil
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, err = strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return 0, err
			}
		}
	}
}

// readRaw reads one response with a Content-Length.
func readRaw(br *bufio.Reader) error {
	n, err := headLength(br)
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.New("a response without a body")
	}
	_, err = br.Discard(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

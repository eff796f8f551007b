package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The floor is what the heartbeat role's tick costs at the least in Go on
// this machine, whatever the engine does: one process on one P, woken by a
// timerfd through the runtime's poller every 20 ms, that sends a 150-byte
// datagram on each of two sockets and reads each socket until it is empty,
// all with raw system calls, on loopback, with no authentication, state
// or placement. It is one node's share of a two-node, two-link pair.

// floorCPU runs the floor for window and returns its CPU time in seconds
// per minute.
func floorCPU(window time.Duration) (float64, error) {
	runtime.GOMAXPROCS(1)
	var fds [2]int
	var ports [2]int
	for i := range fds {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return 0, err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return 0, err
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return 0, err
		}
		fds[i], ports[i] = fd, sa.(*unix.SockaddrInet4).Port
	}
	tk := newFloorTicker(20 * time.Millisecond)
	if tk == nil {
		return 0, errors.New("no timerfd")
	}
	defer tk.Close()
	rc, err := tk.SyscallConn()
	if err != nil {
		return 0, err
	}
	var count [8]byte
	read := func(fd uintptr) bool {
		_, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&count[0])), uintptr(len(count)))
		return errno != unix.EAGAIN
	}
	pkt, buf := make([]byte, 150), make([]byte, 9000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for rc.Read(read) == nil {
			for i, fd := range fds {
				for {
					_, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.MSG_DONTWAIT, 0, 0)
					if errno != 0 {
						break
					}
				}
				to := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte{127, 0, 0, 1}}
				p := ports[1-i]
				*(*[2]byte)(unsafe.Pointer(&to.Port)) = [2]byte{byte(p >> 8), byte(p)}
				unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&pkt[0])), uintptr(len(pkt)), unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&to)), unsafe.Sizeof(to))
			}
		}
	}()
	s, err := cpuPerMinute(os.Getpid(), window)
	if err != nil {
		return 0, err
	}
	tk.Close()
	<-done
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("floor, one node's tick with no engine: %.3f s per minute (%.2f %% of a core); load %s\n", s, s/60*100, strings.Join(strings.Fields(string(load))[:3], " "))
	return s, nil
}

// newFloorTicker is a non-blocking timerfd that expires every d, as a
// file read through the runtime's poller, or nil.
func newFloorTicker(d time.Duration) *os.File {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	ts := unix.NsecToTimespec(int64(d))
	if unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil) != nil {
		unix.Close(fd)
		return nil
	}
	return os.NewFile(uintptr(fd), "floor-interval")
}

// cpuPerMinute waits two seconds for process pid to settle, then returns
// its CPU time over window, user and system, in seconds per minute.
func cpuPerMinute(pid int, window time.Duration) (float64, error) {
	time.Sleep(2 * time.Second)
	before, err := procTicks(pid)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	time.Sleep(window)
	after, err := procTicks(pid)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / 100 / time.Since(start).Minutes(), nil
}

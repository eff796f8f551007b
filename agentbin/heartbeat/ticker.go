package heartbeat

import (
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ticker is the engine's interval clock. It is a timerfd read through the
// Go runtime's network poller rather than a time.Ticker: with a runtime
// timer due every interval, the runtime's monitor thread (sysmon) sleeps
// only until that timer and so woke a second thread every tick, a
// seventh of the role's CPU time. With the timerfd the idle process waits
// in epoll alone, and the kernel wakes it once a tick. The timerfd is read
// with a raw system call (it never blocks: the poller waits), because any
// other wakes sysmon too, which then polls every 20 µs for a while.
type ticker struct {
	C    <-chan time.Time
	stop func()
}

// newTicker ticks every d; a tick the engine has not taken yet is not
// doubled, as with time.Ticker. Where there is no timerfd, it is a
// time.Ticker.
func newTicker(d time.Duration) *ticker {
	f, err := timerFile(d)
	if err != nil {
		t := time.NewTicker(d)
		return &ticker{C: t.C, stop: t.Stop}
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		t := time.NewTicker(d)
		return &ticker{C: t.C, stop: t.Stop}
	}
	c := make(chan time.Time, 1)
	go func() {
		// The count of expirations since the last read, which the
		// engine does not need: it measures its own lateness from the
		// clock (Engine.tick).
		var buf [8]byte
		read := func(fd uintptr) bool {
			_, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
			return errno != unix.EAGAIN
		}
		for {
			if rc.Read(read) != nil {
				return // closed by stop
			}
			select {
			case c <- time.Now():
			default:
			}
		}
	}()
	return &ticker{C: c, stop: func() { f.Close() }}
}

// Stop stops the ticks.
func (t *ticker) Stop() { t.stop() }

// timerFile is a non-blocking timerfd that expires every d, as a file
// whose reads wait in the runtime's poller.
func timerFile(d time.Duration) (*os.File, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	ts := unix.NsecToTimespec(int64(d))
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "heartbeat-interval"), nil
}

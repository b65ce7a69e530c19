package socket

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// wait blocks until ch fires, the socket closes, or the deadline d passes.
func (f *FD) wait(ch <-chan struct{}, d *deadline) error {
	select {
	case <-ch:
		return nil
	case <-f.done:
		return syscall.EBADF
	case <-d.wait():
		return os.ErrDeadlineExceeded
	}
}

func (f *FD) isNonblock(flags int) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false, syscall.EBADF
	}
	return f.nonblock || flags&MSG_DONTWAIT != 0, nil
}

// Listen marks a stream socket as accepting connections (listen(2)); it
// binds an ephemeral port first if the socket is unbound.
func (f *FD) Listen(backlog int) error {
	if err := f.check(); err != nil {
		return err
	}
	if f.tcp == nil {
		return syscall.EOPNOTSUPP
	}
	return mapClosed(f.tcp.Listen(backlog))
}

// Accept waits for a connection (accept(2)) and returns a socket for it and
// the peer's address. A non-blocking listener returns EAGAIN when none is
// waiting.
func (f *FD) Accept() (*FD, netip.AddrPort, error) {
	if f.tcp == nil {
		return nil, netip.AddrPort{}, syscall.EOPNOTSUPP
	}
	for {
		nonblock, err := f.isNonblock(0)
		if err != nil {
			return nil, netip.AddrPort{}, err
		}
		child, err := f.tcp.Accept()
		if err == nil {
			c := &FD{st: f.st, typ: SOCK_STREAM, v6: f.v6, tcp: child, ready: child.Readable(), wr: child.Writable(), done: child.Done(),
				rd: newDeadline(f.st.Clock()), wd: newDeadline(f.st.Clock())}
			return c, child.RemoteAddr(), nil
		}
		if err != syscall.EAGAIN || nonblock {
			return nil, netip.AddrPort{}, mapClosed(err)
		}
		if err := f.wait(f.ready, f.rd); err != nil {
			return nil, netip.AddrPort{}, err
		}
	}
}

// connectStream is Connect for TCP: it blocks until the handshake ends,
// unless the socket is non-blocking (then EINPROGRESS, and SO_ERROR or a
// writable Poll tells the outcome, as on Linux).
func (f *FD) connectStream(addr netip.AddrPort) error {
	nonblock, err := f.isNonblock(0)
	if err != nil {
		return err
	}
	if err := f.tcp.Connect(addr); err != syscall.EINPROGRESS {
		return mapClosed(err)
	}
	if nonblock {
		return syscall.EINPROGRESS
	}
	return f.waitConnected(nil)
}

// waitConnected waits for the handshake; cancel (may be nil) aborts it.
func (f *FD) waitConnected(cancel <-chan struct{}) error {
	for {
		if err := f.tcp.ConnectResult(); err != syscall.EINPROGRESS {
			return mapClosed(err)
		}
		select {
		case <-f.wr:
		case <-f.done:
			return syscall.EBADF
		case <-f.wd.wait():
			return os.ErrDeadlineExceeded
		case <-cancel:
			return errCanceled
		}
	}
}

var errCanceled = errors.New("socket: operation canceled")

// sendStream writes all of b unless the socket is non-blocking, a deadline
// passes or an error occurs; it returns how much was queued.
func (f *FD) sendStream(b []byte, flags int) (int, error) {
	total := 0
	for {
		nonblock, err := f.isNonblock(flags)
		if err != nil {
			return total, err
		}
		select {
		case <-f.wd.wait():
			return total, os.ErrDeadlineExceeded
		default:
		}
		n, err := f.tcp.Write(b[total:])
		total += n
		switch {
		case total == len(b) && (err == nil || err == syscall.EAGAIN):
			return total, nil
		case err == nil:
			continue
		case err != syscall.EAGAIN:
			if total > 0 {
				return total, nil // the error shows on the next call, as send(2)
			}
			return 0, mapClosed(err)
		case nonblock:
			if total > 0 {
				return total, nil
			}
			return 0, syscall.EAGAIN
		}
		if err := f.wait(f.wr, f.wd); err != nil {
			return total, err
		}
	}
}

// recvStream reads what is there (at least one byte, blocking until then).
// At the end of the stream it returns 0, nil, as recv(2) does.
func (f *FD) recvStream(b []byte, flags int) (int, error) {
	for {
		nonblock, err := f.isNonblock(flags)
		if err != nil {
			return 0, err
		}
		n, err := f.tcp.Read(b, flags&MSG_PEEK != 0)
		switch {
		case n > 0:
			return n, nil
		case err == io.EOF || (err == nil && len(b) == 0):
			return 0, nil
		case err != syscall.EAGAIN:
			return 0, mapClosed(err)
		case nonblock:
			return 0, syscall.EAGAIN
		}
		if err := f.wait(f.ready, f.rd); err != nil {
			return 0, err
		}
	}
}

// waitReadable blocks, holding no buffer, until a read would not block:
// data, EOF or an error is there, or the read deadline passes.
func (f *FD) waitReadable() error {
	if f.tcp == nil {
		return syscall.EOPNOTSUPP
	}
	for {
		if err := f.check(); err != nil {
			return err
		}
		if rd, _, _, _ := f.tcp.PollState(); rd {
			return nil
		}
		if err := f.wait(f.ready, f.rd); err != nil {
			return err
		}
	}
}

// Shutdown shuts down part of a full-duplex connection (shutdown(2)).
func (f *FD) Shutdown(how int) error {
	if err := f.check(); err != nil {
		return err
	}
	if f.tcp == nil {
		return syscall.EOPNOTSUPP
	}
	return mapClosed(f.tcp.Shutdown(how))
}

// Poll events, as poll(2).
const (
	POLLIN   = 0x1
	POLLOUT  = 0x4
	POLLERR  = 0x8
	POLLHUP  = 0x10
	POLLNVAL = 0x20
)

// PollFd is one entry of a Poll call.
type PollFd struct {
	FD      *FD
	Events  int16 // POLLIN, POLLOUT wanted
	Revents int16 // set by Poll
}

// Poll waits until one of fds is ready (poll(2)) or timeout passes
// (negative: no timeout; zero: just check). It returns how many entries
// have non-zero Revents. Readiness is level-triggered. Time is the stack's
// clock, so it is deterministic under a manual clock.
func Poll(fds []PollFd, timeout time.Duration) (int, error) {
	if len(fds) == 0 {
		return 0, syscall.EINVAL
	}
	clk := fds[0].FD.st.Clock()
	var expired chan struct{}
	var timer interface{ Stop() bool }
	if timeout > 0 {
		expired = make(chan struct{})
		timer = clk.AfterFunc(timeout, func() { close(expired) })
		defer timer.Stop()
	}
	w := make(chan struct{}, 1)
	registered := false
	defer func() {
		if registered {
			for _, p := range fds {
				p.FD.removeWaiter(w)
			}
		}
	}()
	for {
		n := 0
		for i := range fds {
			fds[i].Revents = fds[i].FD.poll(fds[i].Events)
			if fds[i].Revents != 0 {
				n++
			}
		}
		if n > 0 || timeout == 0 {
			return n, nil
		}
		if !registered {
			// Register, then check again: a change between the check and
			// the registration would otherwise be missed.
			for _, p := range fds {
				p.FD.addWaiter(w)
			}
			registered = true
			continue
		}
		select {
		case <-w:
		case <-expired:
			return 0, nil
		}
	}
}

func (f *FD) poll(events int16) int16 {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return POLLNVAL
	}
	var rd, wr, hup bool
	var err error
	switch {
	case f.tcp != nil:
		rd, wr, hup, err = f.tcp.PollState()
	case f.udp != nil:
		rd, wr = f.udp.PollReadable(), true
	default:
		rd, wr = f.ping.PollReadable(), true
	}
	var r int16
	if rd && events&POLLIN != 0 {
		r |= POLLIN
	}
	if wr && events&POLLOUT != 0 {
		r |= POLLOUT
	}
	if hup {
		r |= POLLHUP
	}
	if err != nil {
		r |= POLLERR
	}
	return r
}

func (f *FD) addWaiter(w chan struct{}) {
	switch {
	case f.tcp != nil:
		f.tcp.AddWaiter(w)
	case f.udp != nil:
		f.udp.AddWaiter(w)
	default:
		f.ping.AddWaiter(w)
	}
}

func (f *FD) removeWaiter(w chan struct{}) {
	switch {
	case f.tcp != nil:
		f.tcp.RemoveWaiter(w)
	case f.udp != nil:
		f.udp.RemoveWaiter(w)
	default:
		f.ping.RemoveWaiter(w)
	}
}

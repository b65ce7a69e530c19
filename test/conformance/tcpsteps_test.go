package conformance

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// --- TCP steps: the peer's segments and the application's socket calls ---

type sendStep struct{ s seg }

// send injects the peer's segment s, its ACK field translated to the
// target's ISS on the four-tuple.
func send(s seg) step { return sendStep{s} }

func (s sendStep) do(r *runner) []record {
	r.tgt.inject(s.s.frame(r.tcp))
	return nil
}
func (s sendStep) String() string { return "peer sends " + s.s.String() }

// groupStep does its steps one after the other and records them as one:
// for an effect whose timing within the group is compared by another
// script (the delayed ACK: withDelAck). Records are tagged with the
// sub-step after which they were seen (record.sub, counting the steps of
// nested groups one by one), so that tapstack's pinned transcript still
// shows that timing.
type groupStep []step

// leaves returns the group's steps with nested groups flattened.
func (g groupStep) leaves() []step {
	var out []step
	for _, s := range g {
		if sub, ok := s.(groupStep); ok {
			out = append(out, sub.leaves()...)
			continue
		}
		out = append(out, s)
	}
	return out
}

func (g groupStep) do(r *runner) []record {
	var out []record
	for i, s := range g.leaves() {
		sock := s.do(r)
		out = append(out, r.collect(i)...)
		for _, rc := range sock {
			rc.sub = i
			out = append(out, rc)
		}
	}
	return out
}

func (g groupStep) String() string {
	var parts []string
	for _, s := range g.leaves() {
		parts = append(parts, s.String())
	}
	return strings.Join(parts, ", then ")
}

// delAck is tapstack's delayed-ACK time (tcp.DefaultDelayedACK, Linux's
// TCP_DELACK_MIN).
const delAck = 40 * time.Millisecond

// withDelAck is st followed by the delayed-ACK time, as one step: gVisor
// has no delayed-ACK timer and acknowledges data at once, tapstack within
// 40 ms (as Linux). Data scripts use it so that they compare what is
// acknowledged, not when; InOrderData_DelayedACK compares when.
func withDelAck(st step) step { return groupStep{st, advance(delAck)} }

type listenTCPStep struct {
	name            string
	port            uint16
	backlog, rcvBuf int
}

// listenTCP opens a listening socket named name on port.
func listenTCP(name string, port uint16) step { return listenTCPStep{name, port, 16, 0} }

// listenTCPBuf is listenTCP with a receive buffer of rcvBuf octets.
func listenTCPBuf(name string, port uint16, rcvBuf int) step {
	return listenTCPStep{name, port, 16, rcvBuf}
}

func (s listenTCPStep) do(r *runner) []record {
	r.listeners[s.name] = r.tgt.listenTCP(s.port, s.backlog, s.rcvBuf)
	return nil
}

func (s listenTCPStep) String() string {
	out := fmt.Sprintf("app listens on TCP :%d (%s)", s.port, s.name)
	if s.rcvBuf != 0 {
		out += fmt.Sprintf(", receive buffer %d", s.rcvBuf)
	}
	return out
}

type acceptStep struct{ lis, conn string }

// accept takes a connection from listener lis (non-blocking) and names it
// conn.
func accept(lis, conn string) step { return acceptStep{lis, conn} }

func (s acceptStep) do(r *runner) []record {
	l := r.listeners[s.lis]
	if l == nil {
		panic("script bug: accept on unknown listener " + s.lis)
	}
	c, res := l.accept()
	if c != nil {
		r.conns[s.conn] = c
	}
	return []record{{socket: fmt.Sprintf("accept(%s): %s", s.lis, res)}}
}
func (s acceptStep) String() string { return fmt.Sprintf("app accepts %s on %s", s.conn, s.lis) }

type closeListenerStep string

func closeListener(name string) step { return closeListenerStep(name) }

func (s closeListenerStep) do(r *runner) []record {
	r.listeners[string(s)].close()
	return nil
}
func (s closeListenerStep) String() string { return "app closes listener " + string(s) }

type dialStep struct {
	conn       string
	localPort  uint16
	remotePort uint16
}

// dial starts a non-blocking connect from 10.0.0.2:localPort to
// 10.0.0.1:remotePort, naming the socket conn.
func dial(conn string, localPort, remotePort uint16) step {
	return dialStep{conn, localPort, remotePort}
}

func (s dialStep) do(r *runner) []record {
	c, res := r.tgt.dialTCP(s.localPort, netip.AddrPortFrom(peerIP, s.remotePort))
	r.conns[s.conn] = c
	return []record{{socket: fmt.Sprintf("connect(%s): %s", s.conn, res)}}
}

func (s dialStep) String() string {
	return fmt.Sprintf("app connects %s from :%d to 10.0.0.1:%d (non-blocking)", s.conn, s.localPort, s.remotePort)
}

func (r *runner) conn(name string) tcpConn {
	c := r.conns[name]
	if c == nil {
		panic("script bug: no connection named " + name)
	}
	return c
}

type writeStep struct {
	conn string
	data []byte
}

// write has the application write data on conn.
func write(conn string, data []byte) step { return writeStep{conn, data} }

func (s writeStep) do(r *runner) []record {
	n, res := r.conn(s.conn).write(s.data)
	return []record{{socket: fmt.Sprintf("write(%s, %d): %d %s", s.conn, len(s.data), n, res)}}
}
func (s writeStep) String() string {
	return fmt.Sprintf("app writes %d octets on %s", len(s.data), s.conn)
}

type readStep struct {
	conn string
	n    int
}

// read has the application read at most n octets from conn.
func read(conn string, n int) step { return readStep{conn, n} }

func (s readStep) do(r *runner) []record {
	b, res := r.conn(s.conn).read(s.n)
	if res == "ok" {
		res = fmt.Sprintf("%d octets, sha256 %x", len(b), sha256.Sum256(b))
	}
	return []record{{socket: fmt.Sprintf("read(%s, %d): %s", s.conn, s.n, res)}}
}
func (s readStep) String() string {
	return fmt.Sprintf("app reads up to %d octets from %s", s.n, s.conn)
}

// callStep is a socket call without arguments.
type callStep struct {
	conn, what string
	call       func(tcpConn) string
}

func (s callStep) do(r *runner) []record {
	return []record{{socket: fmt.Sprintf("%s(%s): %s", s.what, s.conn, s.call(r.conn(s.conn)))}}
}
func (s callStep) String() string { return fmt.Sprintf("app calls %s on %s", s.what, s.conn) }

func shutdownWrite(conn string) step {
	return callStep{conn, "shutdown(SHUT_WR)", tcpConn.shutdownWrite}
}
func closeConn(conn string) step { return callStep{conn, "close", tcpConn.close} }
func abortConn(conn string) step {
	return callStep{conn, "close with SO_LINGER {1, 0}", tcpConn.abort}
}
func status(conn string) step { return callStep{conn, "status", tcpConn.status} }
func noDelay(conn string) step {
	return callStep{conn, "setsockopt(TCP_NODELAY, 1)", tcpConn.noDelay}
}

// quietStep does st and discards what the target sent (after learning the
// TCP state from it): for a setup whose output another script compares
// (ZeroWindow_FillReceiveBuffer).
type quietStep struct{ st step }

func quiet(st step) step { return quietStep{st} }

func (s quietStep) do(r *runner) []record {
	s.st.do(r)
	r.collect(0)
	return nil
}
func (s quietStep) String() string { return s.st.String() + " (output not compared)" }

// markAckStep makes the ACK field of the stack's later segments on the
// four-tuple (stack port, 40000) relative to the last ACK it sent: for
// scripts where how much each stack accepted differs for a reason another
// script compares.
type markAckStep uint16

func markAck(port uint16) step { return markAckStep(port) }

func (s markAckStep) do(r *runner) []record {
	k := tcpKey{stack: uint16(s), peer: peerPort}
	r.tcp.ackBase[k] = r.tcp.lastAck[k]
	return nil
}
func (s markAckStep) String() string {
	return "from here, the stack's ACK numbers are shown relative to its last ACK"
}

type readAllStep string

// readAll reads from conn until EAGAIN and records only whether anything
// came: for scripts where how much each stack accepted differs for a
// reason another script compares.
func readAll(conn string) step { return readAllStep(conn) }

func (s readAllStep) do(r *runner) []record {
	got, res := 0, ""
	for {
		b, rs := r.conn(string(s)).read(65536)
		if rs != "ok" {
			res = rs
			break
		}
		got += len(b)
	}
	return []record{{socket: fmt.Sprintf("read(%s) until %s: data read: %v", string(s), res, got > 0)}}
}
func (s readAllStep) String() string { return "app reads everything queued on " + string(s) }

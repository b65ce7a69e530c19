package conformance

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// A script is a scripted exchange: steps the test performs against a
// target, one at a time. After every step the harness drains what the
// target sent, normalises it, and records it; two targets conform when
// their records are equal step by step.
type script struct {
	name  string
	steps []step
	// tcp says the script needs TCP on both targets.
	tcp bool
	// normalize is applied, in order, to each frame of both transcripts
	// before they are compared (after normalizeFrame and normalizeTCP), for
	// what this script knows to differ for a reason shown by another
	// script. Whatever it hides from the comparison with gVisor is still
	// compared in tapstack's pinned transcript (pinReason).
	normalize []normalizer
	// cfg configures both targets.
	cfg targetConfig
}

// A normalizer rewrites a normalised frame, or returns nil to drop it.
// Each has a name, for the pinned transcripts' headers and for pinReason.
type normalizer struct {
	name string
	fn   func(frame []byte) []byte
}

// step is one action of a script.
type step interface {
	// do performs the step on r's target and returns the socket-level
	// records it produced (frames sent on the wire are collected by the
	// harness after every step).
	do(r *runner) []record
	String() string
}

// record is one observable result of a step: a frame the stack sent
// (normalised by normalizeFrame and normalizeTCP only) or something a
// socket returned.
type record struct {
	frame  []byte // a frame on the wire, or nil
	socket string // a socket event, when frame is nil
	// sub is, inside a groupStep, the index of the sub-step after which
	// the record was seen (0 elsewhere). The comparison with gVisor
	// ignores it (that is what a group is for); tapstack's pinned
	// transcript shows it.
	sub int
}

// equal compares two records, ignoring sub.
func (rc record) equal(o record) bool {
	return bytes.Equal(rc.frame, o.frame) && rc.socket == o.socket
}

func (rc record) String() string {
	if rc.frame == nil {
		return rc.socket
	}
	return describe(rc.frame)
}

// runner plays a script against one target.
type runner struct {
	tgt   target
	socks map[uint16]udpSocket
	// TCP: the stack's ISS on each four-tuple (normalizeTCP learns it),
	// and the sockets a script opened, by the name it gave them.
	tcp       tcpState
	listeners map[string]tcpListener
	conns     map[string]tcpConn
}

type injectStep struct {
	what  string
	frame []byte
}

func inject(what string, frame []byte) step { return injectStep{what, frame} }

func (s injectStep) do(r *runner) []record { r.tgt.inject(s.frame); return nil }
func (s injectStep) String() string        { return "inject " + s.what }

type advanceStep time.Duration

func advance(d time.Duration) step { return advanceStep(d) }

func (s advanceStep) do(r *runner) []record { r.tgt.advance(time.Duration(s)); return nil }
func (s advanceStep) String() string        { return "advance the clock " + time.Duration(s).String() }

type listenUDPStep uint16

// listenUDP opens a UDP socket bound to 0.0.0.0:port.
func listenUDP(port uint16) step { return listenUDPStep(port) }

func (s listenUDPStep) do(r *runner) []record {
	r.socks[uint16(s)] = r.tgt.listenUDP(uint16(s))
	return nil
}
func (s listenUDPStep) String() string { return fmt.Sprintf("open a UDP socket on :%d", uint16(s)) }

type recvUDPStep uint16

// recvUDP reads, without blocking, every datagram queued on the socket a
// listenUDP step opened on port, and records each (or that there was none).
func recvUDP(port uint16) step { return recvUDPStep(port) }

func (s recvUDPStep) do(r *runner) []record {
	sock := r.socks[uint16(s)]
	if sock == nil {
		panic(fmt.Sprintf("script bug: recv on :%d before listen", uint16(s)))
	}
	var out []record
	for {
		b, from, ok := sock.tryRecv()
		if !ok {
			break
		}
		out = append(out, record{socket: fmt.Sprintf("udp :%d received %d octets from %v, sha256 %x", uint16(s), len(b), from, sha256.Sum256(b))})
	}
	if out == nil {
		out = append(out, record{socket: fmt.Sprintf("udp :%d: nothing queued (EAGAIN)", uint16(s))})
	}
	return out
}
func (s recvUDPStep) String() string { return fmt.Sprintf("read the UDP socket on :%d", uint16(s)) }

// transcript is what a target produced: one slice of records per step.
type transcript struct {
	target string
	steps  [][]record
	panic  string // a panic while running the script, with its stack
}

// normalized returns a copy of tr with norms applied to every frame, in
// order, except those of the setup step (the same for every script: shown
// whole). A frame a normalizer drops is left out.
func (tr transcript) normalized(norms []normalizer) transcript {
	out := transcript{target: tr.target, panic: tr.panic, steps: make([][]record, len(tr.steps))}
	for i, recs := range tr.steps {
		out.steps[i] = []record{}
		for _, rc := range recs {
			if rc.frame != nil && i > 0 {
				f := append([]byte(nil), rc.frame...)
				for _, n := range norms {
					if f = n.fn(f); f == nil {
						break
					}
				}
				if f == nil {
					continue
				}
				rc.frame = f
			}
			out.steps[i] = append(out.steps[i], rc)
		}
	}
	return out
}

// learnPeerStep is the setup every script starts with.
var learnPeerStep = inject("ARP who-has 10.0.0.2 tell 10.0.0.1 (setup: the peer's MAC is learned)", learnPeerFrame())

// play runs sc against tgt and returns what it sent, normalised by
// normalizeFrame and normalizeTCP only (sc.normalize is applied by
// transcript.normalized). A panic inside the stack stops the run and is
// recorded as the step's last record, so it shows as a difference.
func play(sc script, tgt target) (tr transcript) {
	tr.target = tgt.name()
	r := &runner{tgt: tgt, socks: make(map[uint16]udpSocket), tcp: newTCPState(),
		listeners: make(map[string]tcpListener), conns: make(map[string]tcpConn)}
	steps := append([]step{learnPeerStep}, sc.steps...)
	for _, st := range steps {
		recs, p := playStep(r, st)
		tr.steps = append(tr.steps, recs)
		if p != "" {
			tr.panic = p
			return tr
		}
	}
	return tr
}

func playStep(r *runner, st step) (recs []record, panicked string) {
	defer func() {
		if v := recover(); v != nil {
			panicked = fmt.Sprintf("PANIC during %q: %v\n%s", st, v, debug.Stack())
			recs = append(recs, record{socket: fmt.Sprintf("PANIC: %v", v)})
		}
	}()
	sock := st.do(r)
	return append(r.collect(0), sock...), ""
}

// collect drains what the target sent, normalised by normalizeFrame and
// normalizeTCP (which learns the TCP state from it), as records of
// sub-step sub.
func (r *runner) collect(sub int) []record {
	var out []record
	for _, f := range r.tgt.drain() {
		out = append(out, record{frame: normalizeTCP(normalizeFrame(f), r.tcp), sub: sub})
	}
	return out
}

// sameTranscripts reports whether a and b recorded the same thing at
// every step.
func sameTranscripts(a, b transcript) bool {
	if len(a.steps) != len(b.steps) {
		return false
	}
	for i := range a.steps {
		if len(a.steps[i]) != len(b.steps[i]) {
			return false
		}
		for j := range a.steps[i] {
			if !a.steps[i][j].equal(b.steps[i][j]) {
				return false
			}
		}
	}
	return true
}

// diffTranscripts renders both transcripts step by step, marking the steps
// that differ with "!!" and, inside them, each record that differs.
func diffTranscripts(sc script, a, b transcript) string {
	var sb strings.Builder
	steps := append([]step{learnPeerStep}, sc.steps...)
	for i, st := range steps {
		var ra, rb []record
		if i < len(a.steps) {
			ra = a.steps[i]
		}
		if i < len(b.steps) {
			rb = b.steps[i]
		}
		same := len(ra) == len(rb)
		for j := 0; same && j < len(ra); j++ {
			same = ra[j].equal(rb[j])
		}
		mark := "  "
		if !same {
			mark = "!!"
		}
		fmt.Fprintf(&sb, "%s step %d: %s\n", mark, i, st)
		if same {
			for _, rc := range ra {
				fmt.Fprintf(&sb, "       both:     %s\n", rc)
			}
			if len(ra) == 0 {
				fmt.Fprintf(&sb, "       both:     (nothing)\n")
			}
			continue
		}
		for j := 0; j < max(len(ra), len(rb)); j++ {
			var da, db string
			var eq bool
			switch {
			case j < len(ra) && j < len(rb):
				da, db, eq = ra[j].String(), rb[j].String(), ra[j].equal(rb[j])
			case j < len(ra):
				da, db = ra[j].String(), "(nothing)"
			default:
				da, db = "(nothing)", rb[j].String()
			}
			if eq {
				fmt.Fprintf(&sb, "       both:     %s\n", da)
				continue
			}
			fmt.Fprintf(&sb, "     - %-9s %s\n", a.target+":", da)
			fmt.Fprintf(&sb, "     + %-9s %s\n", b.target+":", db)
			if j < len(ra) && j < len(rb) && ra[j].frame != nil && rb[j].frame != nil {
				fmt.Fprintf(&sb, "       first differing octet: %s\n", firstDiff(ra[j].frame, rb[j].frame))
			}
		}
		if len(ra) == 0 && len(rb) == 0 {
			fmt.Fprintf(&sb, "       both:     (nothing)\n")
		}
	}
	for _, tr := range []transcript{a, b} {
		if tr.panic != "" {
			fmt.Fprintf(&sb, "%s: %s\n", tr.target, tr.panic)
		}
	}
	return sb.String()
}

func firstDiff(a, b []byte) string {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("frame offset %d (IP offset %d): %#02x vs %#02x", i, i-14, a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d vs %d", len(a), len(b))
}

// compare plays sc against a fresh tapstack and a fresh gVisor and returns
// both transcripts.
func compare(t *testing.T, sc script) (tap, gv transcript) {
	t.Helper()
	a := newTapTarget(t, sc.cfg)
	defer a.close()
	b := newGvisorTarget(t, sc.cfg)
	defer b.close()
	return play(sc, a), play(sc, b)
}

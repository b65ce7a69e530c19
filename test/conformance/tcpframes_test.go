package conformance

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// tcpDefaultRcvBuf is the receive buffer both targets use unless a script
// sets one: tapstack's default (tcp.DefaultRcvBuf), given to gVisor too.
const tcpDefaultRcvBuf = tcp.DefaultRcvBuf

// The peer's side of every TCP script.
const (
	peerPort = uint16(40000)
	// peerISS is the peer's initial sequence number. Sequence numbers the
	// peer sends are written absolute; the stack's (SEG.ACK of the peer's
	// segments) relative to the stack's ISS, which each target chooses.
	peerISS = uint32(100000)
)

// seg is a TCP segment the peer sends. ack is relative to the stack's ISS
// on this four-tuple (as learned from the stack's SYN or SYN-ACK), or
// absolute when the stack has sent no SYN on it.
type seg struct {
	sport, dport uint16 // 0: peerPort, and the script's port
	seq          uint32 // absolute, in the peer's space
	// atRcvNxt makes seq an offset from the last ACK the stack sent on the
	// four-tuple (its RCV.NXT as the peer saw it last), for scripts where
	// how much each stack accepted differs (ZeroWindow_*).
	atRcvNxt bool
	ack      uint32 // relative to the stack's ISS
	flags    tcp.Flags
	win      uint16 // 0 means 65535 (use zeroWin for a zero window)
	zeroWin  bool
	urg      uint16
	opts     tcp.Options
	data     []byte
	// sack are SACK blocks [start, end), relative to the stack's ISS as
	// ack is (RFC 2018 §3); they replace any in opts.
	sack [][2]uint32
	// echoTS sets the TSecr of opts (which must have HasTimestamp) to the
	// last TSval the stack sent on the four-tuple, as a real peer echoes
	// it (RFC 7323 §3.2): for SYN cookies, which read options back from
	// it.
	echoTS bool
}

func (s seg) String() string {
	sp := s.sport
	if sp == 0 {
		sp = peerPort
	}
	out := fmt.Sprintf("%d>%d %v seq=%d", sp, s.dport, s.flags, s.seq-peerISS)
	if s.atRcvNxt {
		out = fmt.Sprintf("%d>%d %v seq=(last ACK)+%d", sp, s.dport, s.flags, s.seq)
	}
	if s.flags&tcp.FlagACK != 0 {
		out += fmt.Sprintf(" ack=ISS+%d", s.ack)
	}
	switch {
	case s.zeroWin:
		out += " win=0"
	case s.win != 0:
		out += fmt.Sprintf(" win=%d", s.win)
	}
	if s.urg != 0 {
		out += fmt.Sprintf(" urg=%d", s.urg)
	}
	if o := s.opts; o != (tcp.Options{}) {
		out += " " + fmt.Sprint(optString(o))
	}
	for _, b := range s.sack {
		out += fmt.Sprintf(" sack=ISS+%d-%d", b[0], b[1])
	}
	if s.echoTS {
		out += " (TSecr: the stack's last TSval)"
	}
	if len(s.data) > 0 {
		out += fmt.Sprintf(" len=%d", len(s.data))
	}
	return out
}

func optString(o tcp.Options) string {
	var parts []string
	if o.MSS != 0 {
		parts = append(parts, fmt.Sprintf("mss %d", o.MSS))
	}
	if o.HasWScale {
		parts = append(parts, fmt.Sprintf("ws %d", o.WScale))
	}
	if o.SACKPermitted {
		parts = append(parts, "sackOK")
	}
	if o.HasTimestamp {
		parts = append(parts, fmt.Sprintf("ts %d/%d", o.TSVal, o.TSEcr))
	}
	for _, b := range o.SACK[:min(max(o.NumSACK, 0), len(o.SACK))] {
		parts = append(parts, fmt.Sprintf("sack %d-%d", b.Start, b.End))
	}
	return fmt.Sprint(parts)
}

// tcpKey names a four-tuple by its ports (the addresses never change).
type tcpKey struct{ stack, peer uint16 }

// tcpState is what a runner learns from the segments a target sends, per
// four-tuple: its ISS, the last acknowledgment number and the last TSval.
type tcpState struct {
	iss, lastAck, lastTSval map[tcpKey]uint32
	// ackBase, once markAck set it, makes the ACK field of the stack's
	// segments relative to what it had acknowledged then.
	ackBase map[tcpKey]uint32
}

func newTCPState() tcpState {
	return tcpState{iss: make(map[tcpKey]uint32), lastAck: make(map[tcpKey]uint32), lastTSval: make(map[tcpKey]uint32),
		ackBase: make(map[tcpKey]uint32)}
}

// frame builds the Ethernet frame of s for a target whose state is st.
func (s seg) frame(st tcpState) []byte {
	if s.sport == 0 {
		s.sport = peerPort
	}
	key := tcpKey{stack: s.dport, peer: s.sport}
	iss := st.iss[key]
	if s.atRcvNxt {
		s.seq += st.lastAck[key]
	}
	win := s.win
	if win == 0 && !s.zeroWin {
		win = 65535
	}
	ts := tcp.Segment{
		SrcPort: s.sport, DstPort: s.dport,
		Seq: seqnum.Value(s.seq), Flags: s.flags, Window: win, Urgent: s.urg,
		Options: s.opts,
	}
	if s.flags&tcp.FlagACK != 0 {
		ts.Ack = seqnum.Value(iss + s.ack)
	}
	if s.echoTS {
		ts.Options.TSEcr = st.lastTSval[key]
	}
	if len(s.sack) > 0 {
		ts.Options.NumSACK = len(s.sack)
		for i, b := range s.sack {
			ts.Options.SACK[i] = tcp.SACKBlock{Start: seqnum.Value(iss + b[0]), End: seqnum.Value(iss + b[1])}
		}
	}
	b := make([]byte, ts.HeaderLen()+len(s.data))
	hl := tcp.Encode(b, &ts)
	copy(b[hl:], s.data)
	tcp.Header(b).ComputeChecksumIPv4(peerIP, stackIP)
	return ipFrame(ipv4.Fields{Protocol: ipv4.ProtoTCP, DF: true}, b)
}

// tcpOf returns the TCP segment inside a normalised frame from the stack,
// or nil.
func tcpOf(frame []byte) []byte {
	if len(frame) < ethernet.HeaderLen+ipv4.HeaderMinLen || ethernet.Header(frame).Type() != ethernet.TypeIPv4 {
		return nil
	}
	h := frame[ethernet.HeaderLen:]
	hl := int(h[0]&0x0f) * 4
	if h[9] != ipv4.ProtoTCP || len(h) < hl+20 || binary.BigEndian.Uint16(h[6:])&0x3fff != 0 {
		return nil
	}
	return h[hl:]
}

// normalizeTCP rewrites a segment the stack sent so that two stacks'
// segments compare: its sequence number becomes relative to the stack's
// ISS on the four-tuple (learned from every SYN the stack sends, so a new
// connection on the same tuple is learned again), and the checksum is
// recomputed. A segment whose checksum was wrong is left as it is, so the
// difference shows.
func normalizeTCP(frame []byte, st tcpState) []byte {
	t := tcpOf(frame)
	if t == nil {
		return frame
	}
	if !tcp.Header(t).VerifyIPv4(stackIP, peerIP) {
		return frame
	}
	key := tcpKey{stack: binary.BigEndian.Uint16(t[0:]), peer: binary.BigEndian.Uint16(t[2:])}
	seq := binary.BigEndian.Uint32(t[4:])
	if tcp.Flags(t[13])&tcp.FlagSYN != 0 {
		st.iss[key] = seq
	}
	if tcp.Flags(t[13])&(tcp.FlagACK|tcp.FlagRST) == tcp.FlagACK {
		st.lastAck[key] = binary.BigEndian.Uint32(t[8:])
	}
	if v := tsOption(t); v != nil {
		st.lastTSval[key] = binary.BigEndian.Uint32(v)
	}
	if base, ok := st.ackBase[key]; ok {
		binary.BigEndian.PutUint32(t[8:], binary.BigEndian.Uint32(t[8:])-base)
	}
	binary.BigEndian.PutUint32(t[4:], seq-st.iss[key])
	tcp.Header(t).ComputeChecksumIPv4(stackIP, peerIP)
	return frame
}

// fixTCPSum recomputes the checksum of a frame's TCP segment, after a
// normalizer changed it.
func fixTCPSum(frame []byte) []byte {
	if t := tcpOf(frame); t != nil {
		tcp.Header(t).ComputeChecksumIPv4(stackIP, peerIP)
	}
	return frame
}

// openWindow replaces a non-zero window field by 0xffff (a zero window
// stays zero): how much of the receive buffer each stack advertises is a
// buffer-accounting choice (gVisor advertises half its free space and
// charges each segment's overhead, as Linux's tcp_adv_win_scale; tapstack
// advertises the free space), shown by its own scripts
// (PassiveOpen_WindowAfterData, ZeroWindow_*). Scripts that are about
// something else compare only "open" or "closed", and pin tapstack's
// windows (pinReason).
var openWindow = normalizer{"openWindow", func(frame []byte) []byte {
	t := tcpOf(frame)
	if t == nil || tcp.Flags(t[13])&tcp.FlagRST != 0 {
		return frame
	}
	if binary.BigEndian.Uint16(t[14:]) != 0 {
		binary.BigEndian.PutUint16(t[14:], 0xffff)
	}
	return fixTCPSum(frame)
}}

// zeroTSval sets the TSval of the stack's Timestamps option to zero: each
// stack runs its own timestamp clock from its own random per-connection
// offset (RFC 7323 §5.4, §7), so the values cannot compare; whether the
// option is there, where, and its TSecr (an echo of the peer's TSval)
// still do.
var zeroTSval = normalizer{"zeroTSval", func(frame []byte) []byte {
	t := tcpOf(frame)
	if t == nil {
		return frame
	}
	if v := tsOption(t); v != nil {
		binary.BigEndian.PutUint32(v, 0)
		return fixTCPSum(frame)
	}
	return frame
}}

// tsOption returns the TSval and TSecr (8 octets) of TCP segment t's
// Timestamps option, nil if it has none.
func tsOption(t []byte) []byte {
	opts := tcp.Header(t).Options()
	for i := 0; i < len(opts); {
		switch opts[i] {
		case tcp.OptEOL:
			return nil
		case tcp.OptNOP:
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || int(opts[i+1]) > len(opts)-i {
			return nil
		}
		if opts[i] == tcp.OptTimestamp && opts[i+1] == 10 {
			return opts[i+2 : i+10]
		}
		i += int(opts[i+1])
	}
	return nil
}

// describeTCP renders a TCP segment for diffs.
func describeTCP(p []byte, src, dst netip.Addr) string {
	s, err := tcp.Decode(p, src, dst, false)
	if err != nil {
		return fmt.Sprintf("TCP undecodable (%v) % x", err, p)
	}
	h := tcp.Header(p)
	return fmt.Sprintf("TCP %d>%d %s csum=%#04x", s.SrcPort, s.DstPort, s.String(), h.Checksum())
}

// rstNoDF clears DF on the RSTs the stack sends: tapstack sets it, as
// Linux (its per-netns control socket is IP_PMTUDISC_DO: "enforce IP_DF
// and IPID==0 for RST"); gVisor does not on a RST for a segment that
// reached no connection (a connection's own RSTs carry DF in both).
// SYNToClosedPort_RSTACK shows it.
var rstNoDF = normalizer{"rstNoDF", func(frame []byte) []byte {
	t := tcpOf(frame)
	if t == nil || tcp.Flags(t[13])&tcp.FlagRST == 0 {
		return frame
	}
	return mangleIP(frame, true, func(h []byte) { h[6] &^= 0x40 })
}}

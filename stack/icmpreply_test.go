package stack_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ipv4"
)

// timestampRequest is an ICMP timestamp request (RFC 792, type 13) with
// the given Originate Timestamp; Receive and Transmit are zero.
func timestampRequest(id, seq uint16, originate uint32) []byte {
	m := make(ipv4.ICMP, ipv4.ICMPHeaderLen+12)
	m.SetType(ipv4.TypeTimestamp)
	m.SetIdent(id)
	m.SetSeq(seq)
	binary.BigEndian.PutUint32(m[8:], originate)
	m.SetChecksum()
	return m
}

// TestICMP_TimestampRequest_Answered: RFC 1122 §3.2.2.8 (a MAY that Linux
// implements): a timestamp request is answered from the address it was
// sent to with a timestamp reply (14) carrying its identifier, sequence
// number and Originate Timestamp, and Receive and Transmit Timestamps of
// now in milliseconds since midnight UT; a request to the broadcast
// address is ignored (Linux's icmp_echo_ignore_broadcasts).
func TestICMP_TimestampRequest_Answered(t *testing.T) {
	e := newEnv(t)
	e.clk.Advance(3*time.Hour + 25*time.Minute + 7*time.Second + 250*time.Millisecond)
	e.learnPeer()
	now := e.clk.Now().UTC()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	want := uint32(now.Sub(midnight) / time.Millisecond)

	e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, TOS: 0x10}, timestampRequest(0x7a7a, 3, 12345678)))
	h, m := e.nextICMP()
	if h.Src() != stackIP || h.Dst() != peerIP || h.TOS() != 0x10 {
		t.Errorf("reply %v -> %v TOS %#x, want %v -> %v TOS 0x10", h.Src(), h.Dst(), h.TOS(), stackIP, peerIP)
	}
	if m.Type() != ipv4.TypeTimestampReply || m.Code() != 0 || len(m) != 20 {
		t.Fatalf("reply type %d code %d, %d octets; want 14, 0, 20", m.Type(), m.Code(), len(m))
	}
	if m.Ident() != 0x7a7a || m.Seq() != 3 {
		t.Errorf("identifier %#x sequence %d, want 0x7a7a and 3", m.Ident(), m.Seq())
	}
	orig, recv, xmit := binary.BigEndian.Uint32(m[8:]), binary.BigEndian.Uint32(m[12:]), binary.BigEndian.Uint32(m[16:])
	if orig != 12345678 || recv != want || xmit != want {
		t.Errorf("timestamps %d %d %d, want 12345678 %d %d", orig, recv, xmit, want, want)
	}
	if st := e.st.Stats().ICMP; st.InTimestamps != 1 || st.OutTimestampReps != 1 {
		t.Errorf("in_timestamps %d out_timestamp_reps %d, want 1 and 1", st.InTimestamps, st.OutTimestampReps)
	}

	e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Dst: netip.MustParseAddr("10.0.0.255")}, timestampRequest(1, 1, 0)))
	e.none()
	if st := e.st.Stats().ICMP; st.InBroadcastEchos != 1 {
		t.Errorf("in_broadcast_echos = %d, want 1", st.InBroadcastEchos)
	}
}

// TestICMP_RecordRoute_ReturnedInReplies: RFC 1122 §3.2.2.6 and §3.2.2.8:
// a Record Route option in an echo or timestamp request SHOULD be updated
// and returned in the reply. As Linux, our address is recorded in the next
// free slot on input and again on output while there is room; a full
// option comes back as it was.
func TestICMP_RecordRoute_ReturnedInReplies(t *testing.T) {
	a := stackIP.As4()
	slots := func(n int, ptr byte, filled ...[4]byte) []byte {
		o := make([]byte, 3+4*n)
		o[0], o[1], o[2] = ipv4.OptRecordRoute, byte(len(o)), ptr
		for i, f := range filled {
			copy(o[3+4*i:], f[:])
		}
		return append(o, make([]byte, (4-len(o)%4)%4)...)
	}
	router := [4]byte{192, 0, 2, 1}
	for _, c := range []struct {
		name      string
		opt, want []byte
		request   []byte
	}{
		{"echo, two free slots", slots(2, 4), slots(2, 12, a, a), echoRequest(1, 1, []byte("hi"))},
		{"echo, three slots, one taken", slots(3, 8, router), slots(3, 16, router, a, a), echoRequest(1, 2, nil)},
		{"echo, one free slot", slots(2, 8, router), slots(2, 12, router, a), echoRequest(1, 3, nil)},
		{"echo, full", slots(1, 8, router), slots(1, 8, router), echoRequest(1, 4, nil)},
		{"timestamp, two free slots", slots(2, 4), slots(2, 12, a, a), timestampRequest(1, 5, 0)},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.learnPeer()
			e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Options: c.opt}, c.request))
			h, m := e.nextICMP()
			if got := h.Options(); !bytes.Equal(got, c.want) {
				t.Errorf("reply options % x, want % x", got, c.want)
			}
			if m.Seq() != ipv4.ICMP(c.request).Seq() {
				t.Errorf("reply to sequence %d, want %d", m.Seq(), ipv4.ICMP(c.request).Seq())
			}
		})
	}
}

// TestIPv4_MalformedRecordRoute_ParameterProblem: a Record Route option
// whose pointer is below 4, or points inside the option without room for
// an address, is answered with a parameter problem pointing at the
// pointer octet and the datagram is discarded (RFC 791 §3.1; Linux's
// ip_options_compile), counted in in_bad_options and out_parm_probs.
func TestIPv4_MalformedRecordRoute_ParameterProblem(t *testing.T) {
	for _, opt := range [][]byte{
		{ipv4.OptRecordRoute, 7, 3, 0, 0, 0, 0, 0},              // pointer below 4
		{ipv4.OptRecordRoute, 9, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0},  // room for 1 octet at 8
		{ipv4.OptRecordRoute, 10, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // room for 2
		{1, ipv4.OptRecordRoute, 7, 2, 0, 0, 0, 0, 0, 0, 0, 0},  // after a NOP: pointer at offset 23
	} {
		e := newEnv(t)
		e.learnPeer()
		e.inject(ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP, Options: opt}, echoRequest(1, 1, nil)))
		_, m := e.nextICMP()
		at := 20 + 2
		if opt[0] == 1 { // a NOP first
			at++
		}
		if m.Type() != ipv4.TypeParamProblem || m[4] != byte(at) {
			t.Errorf("option % x: got type %d pointer %d, want a parameter problem (12) pointing at %d", opt, m.Type(), m[4], at)
		}
		e.none()
		if st := e.st.Stats(); st.IPv4.InBadOptions != 1 || st.ICMP.OutParmProbs != 1 || st.ICMP.InEchos != 0 {
			t.Errorf("option % x: in_bad_options %d out_parm_probs %d in_echos %d, want 1, 1, 0", opt, st.IPv4.InBadOptions, st.ICMP.OutParmProbs, st.ICMP.InEchos)
		}
	}
}

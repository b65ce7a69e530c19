package tcp

// ResetFor returns the reset to send in reply to seg, a segment that reached
// no connection (RFC 9293 §3.10.7.1, "If the state is CLOSED (i.e., TCB does
// not exist)"; also used by a listener for an unacceptable ACK, §3.10.7.2).
// The ports are swapped; the window is 0 and there are no options or data.
//
//   - seg has RST: "An incoming segment containing a RST is discarded", so
//     there is nothing to send (ok is false).
//   - seg has ACK: <SEQ=SEG.ACK><CTL=RST>.
//   - otherwise: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, where SEG.LEN
//     counts SYN and FIN.
//
// The caller supplies the IP addresses, also swapped.
func ResetFor(seg *Segment) (rst Segment, ok bool) {
	if seg.Flags&FlagRST != 0 {
		return Segment{}, false
	}
	rst = Segment{SrcPort: seg.DstPort, DstPort: seg.SrcPort}
	if seg.Flags&FlagACK != 0 {
		rst.Seq = seg.Ack
		rst.Flags = FlagRST
	} else {
		rst.Ack = seg.Seq.Add(seg.Len())
		rst.Flags = FlagRST | FlagACK
	}
	return rst, true
}

package interop

import (
	"fmt"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/tapstack/tapstack/nic"
)

// finRST watches the TCP segments one stack sends, decoded with gVisor's
// header package (independent of tapstack's codec), and keeps the FINs and
// RSTs.
//
// A transfer that closes cleanly may still end with a RST, and a correct
// one: the pipe duplicates or holds back the final ACK of the close, the
// first copy takes the LAST-ACK side to CLOSED and deletes its TCB, and the
// second copy then reaches no connection, which RFC 9293 §3.10.7.1 answers
// with <SEQ=SEG.ACK><CTL=RST>, that is, with the sequence number just past
// the answering side's own FIN. That is the only RST a clean transfer may
// produce; legit tells it apart from any other.
type finRST struct {
	mu   sync.Mutex
	fins []uint32 // sequence number of each FIN sent
	rsts []rstSeg
}

type rstSeg struct {
	seq, ack uint32
	flags    header.TCPFlags
}

func (r rstSeg) String() string {
	return fmt.Sprintf("RST seq=%d ack=%d flags=%v", r.seq, r.ack, r.flags)
}

// observe records frame if it is a TCP segment with FIN or RST.
func (w *finRST) observe(frame []byte) {
	if len(frame) < header.EthernetMinimumSize {
		return
	}
	var seg []byte
	switch header.Ethernet(frame).Type() {
	case header.IPv4ProtocolNumber:
		ip := header.IPv4(frame[header.EthernetMinimumSize:])
		if !ip.IsValid(len(ip)) || ip.Protocol() != uint8(header.TCPProtocolNumber) {
			return
		}
		seg = ip.Payload()
	case header.IPv6ProtocolNumber:
		// Neither stack sends extension headers before TCP.
		ip := header.IPv6(frame[header.EthernetMinimumSize:])
		if !ip.IsValid(len(ip)) || ip.NextHeader() != uint8(header.TCPProtocolNumber) {
			return
		}
		seg = ip.Payload()
	default:
		return
	}
	tcp := header.TCP(seg)
	if len(tcp) < header.TCPMinimumSize || int(tcp.DataOffset()) < header.TCPMinimumSize || int(tcp.DataOffset()) > len(tcp) {
		return
	}
	flags := tcp.Flags()
	if !flags.Contains(header.TCPFlagFin) && !flags.Contains(header.TCPFlagRst) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if flags.Contains(header.TCPFlagFin) {
		w.fins = append(w.fins, tcp.SequenceNumber()+uint32(len(tcp.Payload())))
	}
	if flags.Contains(header.TCPFlagRst) {
		w.rsts = append(w.rsts, rstSeg{seq: tcp.SequenceNumber(), ack: tcp.AckNumber(), flags: flags})
	}
}

// check returns the RSTs sent that are not the answer to a late copy of the
// ACK of this side's own FIN, and how many RSTs were sent in all.
func (w *finRST) check() (bad []rstSeg, total int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.rsts {
		ok := r.flags == header.TCPFlagRst
		if ok {
			ok = false
			for _, f := range w.fins {
				ok = ok || r.seq == f+1
			}
		}
		if !ok {
			bad = append(bad, r)
		}
	}
	return bad, len(w.rsts)
}

// watchDevice is a Device whose written frames are also shown to a finRST.
type watchDevice struct {
	nic.Device
	w *finRST
}

func (d watchDevice) Write(fs []nic.Frame) (int, error) {
	n, err := d.Device.Write(fs)
	for _, f := range fs[:n] {
		d.w.observe(f.Data)
	}
	return n, err
}

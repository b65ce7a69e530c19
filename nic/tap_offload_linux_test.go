package nic_test

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/internal/nstest"
	"github.com/tapstack/tapstack/nic"
	"github.com/vishvananda/netlink"
)

var (
	offStackIP = [4]byte{10, 9, 0, 2}
	offHostIP  = [4]byte{10, 9, 0, 1}
)

// synAck builds the stack side's SYN-ACK (MSS 1460, window 65535, no
// scaling) to the kernel's SYN frame syn, with complete checksums.
func synAck(mac, hostMAC [6]byte, syn []byte) []byte {
	tcpIn := syn[34:]
	f := make([]byte, 14+20+24)
	copy(f[0:], hostMAC[:])
	copy(f[6:], mac[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], 20+24)
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	copy(ip[12:], offStackIP[:])
	copy(ip[16:], offHostIP[:])
	binary.BigEndian.PutUint16(ip[10:], checksum.Checksum(ip, 0))
	tcp := f[34:]
	copy(tcp[0:2], tcpIn[2:4])
	copy(tcp[2:4], tcpIn[0:2])
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	binary.BigEndian.PutUint32(tcp[8:], binary.BigEndian.Uint32(tcpIn[4:])+1)
	tcp[12], tcp[13] = 6<<4, 0x12 // data offset 24, SYN|ACK
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	copy(tcp[20:], []byte{2, 4, 0x05, 0xb4}) // MSS 1460 (RFC 9293 §3.2)
	ph := checksum.PseudoHeaderIPv4(netip.AddrFrom4(offStackIP), netip.AddrFrom4(offHostIP), 6, uint16(len(tcp)))
	binary.BigEndian.PutUint16(tcp[16:], checksum.Checksum(tcp, ph))
	return f
}

// isTCP reports whether f is an IPv4 TCP frame from the host with the
// given flags all set.
func isTCP(f []byte, flags byte) bool {
	return len(f) >= 54 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 6 && f[47]&flags == flags
}

// kernelSends connects from the host side of tap (in ns) to the stack's
// address, answering the SYN by hand, and has the kernel send 256 KiB. It
// returns the data frames read until stop says so (or 200 frames, or 10 s).
func kernelSends(t *testing.T, ns *nstest.NS, tap *nic.TAP, mac [6]byte, stop func([]readResult) bool) []readResult {
	t.Helper()
	err := ns.Do(func() error {
		link, err := netlink.LinkByName(tap.Info().Name)
		if err != nil {
			return err
		}
		return netlink.NeighAdd(&netlink.Neigh{
			LinkIndex: link.Attrs().Index, State: netlink.NUD_PERMANENT,
			IP: net.IP(offStackIP[:]), HardwareAddr: mac[:],
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	frames := reader(tap)
	defer func() {
		tap.Close()
		for range frames {
		}
	}()
	// The handshake: read the SYN, answer it; meanwhile Dial waits in ns.
	answered := make(chan error, 1)
	go func() {
		guard := time.After(10 * time.Second)
		for {
			select {
			case f := <-frames:
				if f.err != nil {
					answered <- f.err
					return
				}
				if isTCP(f.frame, 0x02) {
					_, err := tap.Write([]nic.Frame{{Data: synAck(mac, tap.HostMAC(), f.frame)}})
					answered <- err
					return
				}
			case <-guard:
				answered <- errors.New("no SYN in 10 s")
				return
			}
		}
	}()
	var c net.Conn
	err = ns.Do(func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		c, err = d.Dial("tcp4", "10.9.0.2:5001")
		return err
	})
	if aerr := <-answered; aerr != nil {
		t.Fatalf("answering the SYN: %v", aerr)
	}
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	go c.Write(make([]byte, 256<<10)) // blocks once the window is full; Close ends it
	var got []readResult
	guard := time.After(10 * time.Second)
	for i := 0; i < 200; i++ {
		select {
		case f := <-frames:
			if f.err != nil {
				t.Fatalf("Read: %v", f.err)
			}
			if !isTCP(f.frame, 0x10) || len(f.frame) <= 54 {
				continue // not data
			}
			got = append(got, f)
			if stop(got) {
				return got
			}
		case <-guard:
			return got
		}
	}
	return got
}

func TestTAP_OffloadOn_KernelTCPSendsSuperFrames(t *testing.T) {
	ns := nstest.New(t)
	mac := [6]byte{0x02, 0, 0, 0, 0, 0x02}
	tap := openTAP(t, ns, nic.TAPConfig{Name: "tap-gso", MAC: mac, HostAddr: netip.MustParsePrefix("10.9.0.1/24"), Offload: nic.OffloadOn})
	info := tap.Info()
	wantOff := nic.TxCsum | nic.TxTSO4 | nic.TxTSO6 | nic.RxCsumPartial | nic.RxGSO4 | nic.RxGSO6
	if info.Offloads != wantOff || info.MaxFrame != 14+40+65535 || info.MTU != 1500 {
		t.Fatalf("Info() = %+v, want offloads %b and MaxFrame 65589 (IPv6's largest packet)", info, wantOff)
	}
	frames := kernelSends(t, ns, tap, mac, func(got []readResult) bool { return got[len(got)-1].meta.GSO != nic.GSONone })
	if len(frames) == 0 {
		t.Fatal("no data frames")
	}
	f := frames[len(frames)-1]
	// The kernel's TCP hands its TSO skb to the TAP whole: one frame of
	// several 1460-byte segments, with only the pseudo-header sum.
	want := nic.Meta{GSO: nic.GSOTCPv4, GSOSize: 1460, Csum: nic.CsumPartial, CsumStart: 34, CsumOffset: 16}
	if f.meta != want || len(f.frame) <= 1514 {
		t.Fatalf("last data frame: %d bytes, Meta %+v; want a super-frame with %+v", len(f.frame), f.meta, want)
	}
	if got := binary.BigEndian.Uint16(f.frame[16:]); int(got) != len(f.frame)-14 {
		t.Errorf("IPv4 total length %d, frame carries %d", got, len(f.frame)-14)
	}
	s := tap.Stats()
	if s.GSOFramesRead == 0 || s.GSOBytesRead < uint64(len(f.frame)) || s.CsumTrusted == 0 || s.BadVnetHdr != 0 {
		t.Errorf("Stats() = %+v, want GSO frames, their bytes and trusted checksums counted", s)
	}
}

func TestTAP_OffloadOff_KernelTCPSendsPlainFrames(t *testing.T) {
	ns := nstest.New(t)
	mac := [6]byte{0x02, 0, 0, 0, 0, 0x02}
	tap := openTAP(t, ns, nic.TAPConfig{Name: "tap-plain", MAC: mac, HostAddr: netip.MustParsePrefix("10.9.0.1/24")})
	if info := tap.Info(); info.Offloads != 0 || info.MaxFrame != 1514 {
		t.Fatalf("Info() = %+v, want no offloads and MaxFrame 1514", info)
	}
	frames := kernelSends(t, ns, tap, mac, func(got []readResult) bool { return len(got) == 8 })
	if len(frames) < 8 {
		t.Fatalf("%d data frames, want the initial window's worth", len(frames))
	}
	for _, f := range frames {
		if f.meta != (nic.Meta{}) || len(f.frame) > 1514 {
			t.Fatalf("data frame of %d bytes with Meta %+v; want plain frames", len(f.frame), f.meta)
		}
		// A plain frame's checksum is complete.
		tcp := f.frame[34:]
		ph := checksum.PseudoHeaderIPv4(netip.AddrFrom4(offHostIP), netip.AddrFrom4(offStackIP), 6, uint16(len(tcp)))
		if checksum.Checksum(tcp, ph) != 0 {
			t.Fatalf("data frame with a bad TCP checksum")
		}
	}
}

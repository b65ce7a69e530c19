package dhcp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

var (
	testMAC = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	srvIP   = netip.MustParseAddr("10.9.0.1")
	leaseIP = netip.MustParseAddr("10.9.0.50")
)

// unhex decodes hex with spaces and newlines ignored.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// zeros is n zero octets in hex.
func zeros(n int) string { return strings.Repeat("00", n) }

// A DISCOVER, laid out octet by octet from RFC 2131 §2 and RFC 2132.
func TestAppend_Discover_GoldenBytes(t *testing.T) {
	m := Message{Op: OpRequest, Xid: 0x01020304, Secs: 3, Broadcast: true, CHAddr: testMAC,
		Type: Discover, ParamRequest: []byte{1, 3, 6, 26, 51, 58, 59}, ClientID: []byte{1, 2, 0, 0, 0, 0, 2}, HostName: "ts"}
	want := unhex(t, `
		01 01 06 00  01020304  0003 8000
		00000000 00000000 00000000 00000000
		020000000002`+zeros(10)+zeros(64)+zeros(128)+`
		63825363
		35 01 01
		0c 02 7473
		37 07 01 03 06 1a 33 3a 3b
		3d 07 01 02 00 00 00 00 02
		ff`)
	want = append(want, make([]byte, minMsgLen-len(want))...)
	got := m.Append(nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("Append =\n%x\nwant\n%x", got, want)
	}
}

// An ACK as dnsmasq sends it (options in its order, a message text we skip,
// the end option without padding).
func TestParse_Ack_GoldenBytes(t *testing.T) {
	b := unhex(t, `
		02 01 06 00  deadbeef  0000 8000
		00000000 0a090032 0a090001 00000000
		020000000002`+zeros(10)+zeros(64)+zeros(128)+`
		63825363
		35 01 05
		36 04 0a090001
		33 04 00000078
		3a 04 0000003c
		3b 04 00000069
		01 04 ffffff00
		1c 04 0a0900ff
		03 04 0a090001
		06 08 0a090001 01010101
		1a 02 05dc
		38 02 6f6b
		00 00
		ff`)
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Message{Op: OpReply, Xid: 0xdeadbeef, Broadcast: true, YIAddr: leaseIP, SIAddr: srvIP, CHAddr: testMAC,
		Type: Ack, ServerID: srvIP, LeaseTime: 120, RenewalTime: 60, RebindingTime: 105,
		SubnetMask: netip.MustParseAddr("255.255.255.0"), Routers: []netip.Addr{srvIP},
		DNS: []netip.Addr{srvIP, netip.MustParseAddr("1.1.1.1")}, MTU: 1500}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("Parse =\n%+v\nwant\n%+v", m, want)
	}
}

func TestParse_Malformed(t *testing.T) {
	good := (&Message{Op: OpReply, Type: Offer}).Append(nil)
	withOpts := func(opts ...byte) []byte {
		b := append([]byte(nil), good[:HeaderLen]...)
		return append(b, opts...)
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"no cookie", good[:HeaderLen-1], ErrTruncated},
		{"bad cookie", append(append([]byte(nil), good[:fixedLen]...), 99, 130, 83, 98), ErrCookie},
		{"htype 6", func() []byte { b := bytes.Clone(good); b[1] = 6; return b }(), ErrHardware},
		{"hlen 16", func() []byte { b := bytes.Clone(good); b[2] = 16; return b }(), ErrHardware},
		{"code without length", withOpts(OptLeaseTime), ErrOptions},
		{"length past the end", withOpts(OptLeaseTime, 4, 0, 0, 0), ErrOptions},
		{"message type of 2 octets", withOpts(OptMessageType, 2, 1, 1), ErrOptions},
		{"lease time of 3 octets", withOpts(OptLeaseTime, 3, 0, 0, 1, OptEnd), ErrOptions},
		{"router list of 5 octets", withOpts(OptRouter, 5, 1, 2, 3, 4, 5, OptEnd), ErrOptions},
		{"empty DNS list", withOpts(OptDNS, 0, OptEnd), ErrOptions},
		{"mask of 8 octets", withOpts(OptSubnetMask, 8, 0, 0, 0, 0, 0, 0, 0, 0), ErrOptions},
		{"MTU below 68", withOpts(OptInterfaceMTU, 2, 0, 67), ErrOptions},
		{"overload 4", withOpts(OptOverload, 1, 4), ErrOptions},
		{"client id of 1 octet", withOpts(OptClientID, 1, 1), ErrOptions},
	}
	for _, tt := range tests {
		if _, err := Parse(tt.b); !errors.Is(err, tt.want) {
			t.Errorf("%s: Parse = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// Options after the end option are not read; unknown ones are skipped;
// a missing end option is accepted.
func TestParse_EndUnknownAndMissingEnd(t *testing.T) {
	base := (&Message{Op: OpReply}).Append(nil)[:HeaderLen]
	b := append(bytes.Clone(base), 200, 2, 9, 9, OptMessageType, 1, byte(Offer), OptEnd, OptMessageType, 1, byte(Nak))
	m, err := Parse(b)
	if err != nil || m.Type != Offer {
		t.Fatalf("Parse = %v type %v, want DHCPOFFER", err, m.Type)
	}
	b = append(bytes.Clone(base), OptMessageType, 1, byte(Ack))
	if m, err = Parse(b); err != nil || m.Type != Ack {
		t.Fatalf("without end: Parse = %v type %v, want DHCPACK", err, m.Type)
	}
}

func TestAppend_PadsTo300AndCutsLongOptions(t *testing.T) {
	m := Message{Op: OpRequest, Type: Request, HostName: strings.Repeat("h", 300)}
	b := m.Append(nil)
	p, err := Parse(b)
	if err != nil || len(p.HostName) != 255 {
		t.Fatalf("Parse = %v, host name of %d octets, want 255", err, len(p.HostName))
	}
	if b := (&Message{}).Append(nil); len(b) != minMsgLen {
		t.Fatalf("an empty message is %d octets, want %d (RFC 1542 §3.2.1)", len(b), minMsgLen)
	}
}

func TestMessageType_String(t *testing.T) {
	if s := Ack.String(); s != "DHCPACK" {
		t.Errorf("Ack = %q", s)
	}
	if s := MessageType(42).String(); s != "DHCP(42)" {
		t.Errorf("42 = %q", s)
	}
}

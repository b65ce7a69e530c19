package dhcp

// The DHCP message format, RFC 2131 §2 (figure 1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+---------------+---------------+---------------+---------------+
//	|     op (1)    |   htype (1)   |   hlen (1)    |   hops (1)    |
//	+---------------+---------------+---------------+---------------+
//	|                            xid (4)                            |
//	+-------------------------------+-------------------------------+
//	|           secs (2)            |           flags (2)           |
//	+-------------------------------+-------------------------------+
//	|                          ciaddr  (4)                          |
//	+---------------------------------------------------------------+
//	|                          yiaddr  (4)                          |
//	+---------------------------------------------------------------+
//	|                          siaddr  (4)                          |
//	+---------------------------------------------------------------+
//	|                          giaddr  (4)                          |
//	+---------------------------------------------------------------+
//	|                          chaddr  (16)                         |
//	+---------------------------------------------------------------+
//	|                          sname   (64)                         |
//	+---------------------------------------------------------------+
//	|                          file    (128)                        |
//	+---------------------------------------------------------------+
//	|                          options (variable)                   |
//	+---------------------------------------------------------------+
//
// The options field opens with the magic cookie 99.130.83.99 (RFC 2131 §3,
// RFC 2132 §2); each option is a code octet, a length octet and that many
// octets, except pad (0) and end (255), which are one octet.

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"strconv"
)

// Sizes and offsets of the fixed header (RFC 2131 §2).
const (
	offXid     = 4
	offSecs    = 8
	offFlags   = 10
	offCIAddr  = 12
	offYIAddr  = 16
	offSIAddr  = 20
	offGIAddr  = 24
	offCHAddr  = 28
	fixedLen   = 236 // op through file
	cookieLen  = 4
	HeaderLen  = fixedLen + cookieLen // the fixed header and the magic cookie
	minMsgLen  = 300                  // RFC 1542 §3.2.1: relays may drop a shorter BOOTP message
	ServerPort = 67                   // RFC 2131 §4.1
	ClientPort = 68
)

// magicCookie opens the options field (RFC 2131 §3).
var magicCookie = [4]byte{99, 130, 83, 99}

// Op values (RFC 2131 §2).
const (
	OpRequest = 1 // BOOTREQUEST
	OpReply   = 2 // BOOTREPLY
)

// htypeEthernet and its hlen: "1" = 10mb ethernet in Assigned Numbers.
const (
	htypeEthernet = 1
	hlenEthernet  = 6
)

// flagBroadcast is the BROADCAST bit of the flags field (RFC 2131 §2,
// figure 2).
const flagBroadcast = 0x8000

// MessageType is option 53's value (RFC 2132 §9.6).
type MessageType uint8

// Message types (RFC 2132 §9.6).
const (
	Discover MessageType = 1
	Offer    MessageType = 2
	Request  MessageType = 3
	Decline  MessageType = 4
	Ack      MessageType = 5
	Nak      MessageType = 6
	Release  MessageType = 7
	Inform   MessageType = 8
)

func (t MessageType) String() string {
	names := [...]string{"", "DHCPDISCOVER", "DHCPOFFER", "DHCPREQUEST", "DHCPDECLINE", "DHCPACK", "DHCPNAK", "DHCPRELEASE", "DHCPINFORM"}
	if int(t) < len(names) && t != 0 {
		return names[t]
	}
	return "DHCP(" + strconv.Itoa(int(t)) + ")"
}

// Option codes (RFC 2132).
const (
	OptPad           = 0   // §3.1
	OptSubnetMask    = 1   // §3.3
	OptRouter        = 3   // §3.5
	OptDNS           = 6   // §3.8
	OptHostName      = 12  // §3.14
	OptInterfaceMTU  = 26  // §5.1
	OptRequestedIP   = 50  // §9.1
	OptLeaseTime     = 51  // §9.2
	OptOverload      = 52  // §9.3
	OptMessageType   = 53  // §9.6
	OptServerID      = 54  // §9.7
	OptParamRequest  = 55  // §9.8
	OptRenewalTime   = 58  // §9.11, T1
	OptRebindingTime = 59  // §9.12, T2
	OptClientID      = 61  // §9.14
	OptEnd           = 255 // §3.2
)

// Errors from Parse. The client counts them and drops the message.
var (
	ErrTruncated = errors.New("dhcp: message shorter than the fixed header")
	ErrCookie    = errors.New("dhcp: no magic cookie")
	ErrHardware  = errors.New("dhcp: hardware type is not Ethernet")
	ErrOptions   = errors.New("dhcp: malformed options")
)

// Message is a decoded DHCP message: the fixed header's fields and the
// options this client uses. Addresses that are absent are the zero Addr; a
// time option that is absent is 0 (seconds; 0xffffffff is "infinity",
// RFC 2131 §3.3).
type Message struct {
	Op        uint8
	Xid       uint32
	Secs      uint16
	Broadcast bool // the BROADCAST flag
	CIAddr    netip.Addr
	YIAddr    netip.Addr
	SIAddr    netip.Addr
	GIAddr    netip.Addr
	CHAddr    [6]byte

	Type          MessageType  // option 53; 0 when absent (a BOOTP message)
	SubnetMask    netip.Addr   // option 1
	Routers       []netip.Addr // option 3
	DNS           []netip.Addr // option 6
	HostName      string       // option 12
	MTU           uint16       // option 26; 0 when absent
	RequestedIP   netip.Addr   // option 50
	LeaseTime     uint32       // option 51, seconds
	Overload      uint8        // option 52; its options in sname/file are not read (counted by the client)
	ServerID      netip.Addr   // option 54
	ParamRequest  []byte       // option 55
	RenewalTime   uint32       // option 58 (T1), seconds
	RebindingTime uint32       // option 59 (T2), seconds
	ClientID      []byte       // option 61
}

// Parse decodes a DHCP message (a UDP payload). It validates every length;
// options this client does not use are skipped. An option that appears
// twice keeps its last value (RFC 3396's concatenation of split options is
// not done: no option we read is longer than 255 octets in practice).
func Parse(b []byte) (Message, error) {
	var m Message
	if len(b) < HeaderLen {
		return m, ErrTruncated
	}
	if [4]byte(b[fixedLen:HeaderLen]) != magicCookie {
		return m, ErrCookie
	}
	if b[1] != htypeEthernet || b[2] != hlenEthernet {
		return m, ErrHardware
	}
	m.Op = b[0]
	m.Xid = binary.BigEndian.Uint32(b[offXid:])
	m.Secs = binary.BigEndian.Uint16(b[offSecs:])
	m.Broadcast = binary.BigEndian.Uint16(b[offFlags:])&flagBroadcast != 0
	m.CIAddr = addrOrZero(b[offCIAddr:])
	m.YIAddr = addrOrZero(b[offYIAddr:])
	m.SIAddr = addrOrZero(b[offSIAddr:])
	m.GIAddr = addrOrZero(b[offGIAddr:])
	m.CHAddr = [6]byte(b[offCHAddr:])
	opts := b[HeaderLen:]
	for len(opts) > 0 {
		code := opts[0]
		if code == OptPad {
			opts = opts[1:]
			continue
		}
		if code == OptEnd {
			break
		}
		if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
			return Message{}, ErrOptions
		}
		v := opts[2 : 2+int(opts[1])]
		opts = opts[2+len(v):]
		if err := m.setOption(code, v); err != nil {
			return Message{}, err
		}
	}
	// RFC 2131 §4.1 lets a message end without the end option if nothing
	// follows; we accept it.
	return m, nil
}

// setOption stores one option's value, checking its length against RFC 2132.
func (m *Message) setOption(code byte, v []byte) error {
	var ok bool
	switch code {
	case OptMessageType:
		if ok = len(v) == 1; ok {
			m.Type = MessageType(v[0])
		}
	case OptSubnetMask:
		m.SubnetMask, ok = oneAddr(v)
	case OptRequestedIP:
		m.RequestedIP, ok = oneAddr(v)
	case OptServerID:
		m.ServerID, ok = oneAddr(v)
	case OptRouter:
		m.Routers, ok = addrList(v)
	case OptDNS:
		m.DNS, ok = addrList(v)
	case OptLeaseTime:
		m.LeaseTime, ok = u32(v)
	case OptRenewalTime:
		m.RenewalTime, ok = u32(v)
	case OptRebindingTime:
		m.RebindingTime, ok = u32(v)
	case OptInterfaceMTU:
		// RFC 2132 §5.1: minimum legal value 68.
		if ok = len(v) == 2 && binary.BigEndian.Uint16(v) >= 68; ok {
			m.MTU = binary.BigEndian.Uint16(v)
		}
	case OptOverload:
		if ok = len(v) == 1 && v[0] >= 1 && v[0] <= 3; ok {
			m.Overload = v[0]
		}
	case OptHostName:
		if ok = len(v) > 0; ok { // RFC 2132 §3.14: minimum length 1
			m.HostName = string(v)
		}
	case OptParamRequest:
		if ok = len(v) > 0; ok { // RFC 2132 §9.8: minimum length 1
			m.ParamRequest = slices.Clone(v)
		}
	case OptClientID:
		if ok = len(v) >= 2; ok { // RFC 2132 §9.14: minimum length 2
			m.ClientID = slices.Clone(v)
		}
	default:
		ok = true // not ours: skipped
	}
	if !ok {
		return ErrOptions
	}
	return nil
}

func addrOrZero(b []byte) netip.Addr {
	a := netip.AddrFrom4([4]byte(b))
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

func oneAddr(v []byte) (netip.Addr, bool) {
	if len(v) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(v)), true
}

// addrList decodes a list of one or more addresses (RFC 2132 §3.5, §3.8:
// minimum length 4, a multiple of 4).
func addrList(v []byte) ([]netip.Addr, bool) {
	if len(v) == 0 || len(v)%4 != 0 {
		return nil, false
	}
	l := make([]netip.Addr, 0, len(v)/4)
	for ; len(v) > 0; v = v[4:] {
		l = append(l, netip.AddrFrom4([4]byte(v)))
	}
	return l, true
}

func u32(v []byte) (uint32, bool) {
	if len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

// Append encodes m after b and returns the result: the fixed header, the
// magic cookie, the options that are set (message type first, RFC 2131
// §4.1 does not require it but servers expect it), the end option, and
// padding to the 300-octet BOOTP minimum (RFC 1542 §3.2.1). Options longer
// than 255 octets are cut to 255.
func (m *Message) Append(b []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, HeaderLen)...)
	h := b[start:]
	h[0], h[1], h[2] = m.Op, htypeEthernet, hlenEthernet
	binary.BigEndian.PutUint32(h[offXid:], m.Xid)
	binary.BigEndian.PutUint16(h[offSecs:], m.Secs)
	if m.Broadcast {
		binary.BigEndian.PutUint16(h[offFlags:], flagBroadcast)
	}
	putAddr(h[offCIAddr:], m.CIAddr)
	putAddr(h[offYIAddr:], m.YIAddr)
	putAddr(h[offSIAddr:], m.SIAddr)
	putAddr(h[offGIAddr:], m.GIAddr)
	copy(h[offCHAddr:], m.CHAddr[:])
	copy(h[fixedLen:], magicCookie[:])

	if m.Type != 0 {
		b = append(b, OptMessageType, 1, byte(m.Type))
	}
	b = appendAddrs(b, OptSubnetMask, m.SubnetMask)
	b = appendAddrs(b, OptRouter, m.Routers...)
	b = appendAddrs(b, OptDNS, m.DNS...)
	b = appendBytes(b, OptHostName, []byte(m.HostName))
	if m.MTU != 0 {
		b = append(b, OptInterfaceMTU, 2, byte(m.MTU>>8), byte(m.MTU))
	}
	b = appendAddrs(b, OptRequestedIP, m.RequestedIP)
	b = appendU32(b, OptLeaseTime, m.LeaseTime)
	if m.Overload != 0 {
		b = append(b, OptOverload, 1, m.Overload)
	}
	b = appendAddrs(b, OptServerID, m.ServerID)
	b = appendBytes(b, OptParamRequest, m.ParamRequest)
	b = appendU32(b, OptRenewalTime, m.RenewalTime)
	b = appendU32(b, OptRebindingTime, m.RebindingTime)
	b = appendBytes(b, OptClientID, m.ClientID)
	b = append(b, OptEnd)
	for len(b)-start < minMsgLen {
		b = append(b, OptPad)
	}
	return b
}

func putAddr(b []byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
	}
}

// appendAddrs appends an option holding the IPv4 addresses in l, if any
// (at most 63, what 255 octets hold).
func appendAddrs(b []byte, code byte, l ...netip.Addr) []byte {
	n := 0
	for _, a := range l {
		if a.Is4() && n < 63 {
			n++
		}
	}
	if n == 0 {
		return b
	}
	b = append(b, code, byte(4*n))
	for _, a := range l {
		if a.Is4() && n > 0 {
			v := a.As4()
			b = append(b, v[:]...)
			n--
		}
	}
	return b
}

func appendBytes(b []byte, code byte, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	v = v[:min(len(v), 255)]
	b = append(b, code, byte(len(v)))
	return append(b, v...)
}

func appendU32(b []byte, code byte, v uint32) []byte {
	if v == 0 {
		return b
	}
	return binary.BigEndian.AppendUint32(append(b, code, 4), v)
}

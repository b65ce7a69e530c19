package ipv6

import (
	"errors"
	"testing"
)

// chain builds a packet whose fixed header names first, followed by the
// given extension headers (each already complete, Next Header included) and
// payload.
func chain(first uint8, payload []byte, exts ...[]byte) Header {
	var p []byte
	for _, e := range exts {
		p = append(p, e...)
	}
	p = append(p, payload...)
	return Header(build(Fields{NextHeader: first, HopLimit: 64, Src: addrA, Dst: addrB}, p))
}

// optsHdr is a hop-by-hop or destination options header carrying opts,
// padded with PadN/Pad1 to a multiple of 8.
func optsHdr(next uint8, opts ...byte) []byte {
	b := append([]byte{next, 0}, opts...)
	switch pad := (8 - len(b)%8) % 8; pad {
	case 0:
	case 1:
		b = append(b, OptPad1)
	default:
		b = append(b, OptPadN, byte(pad-2))
		b = append(b, make([]byte, pad-2)...)
	}
	b[1] = byte(len(b)/8 - 1)
	return b
}

func fragHdr(next uint8, offset int, more bool, id uint32) []byte {
	w := uint16(offset/8) << 3
	if more {
		w |= 1
	}
	return []byte{next, 0, byte(w >> 8), byte(w), byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
}

func routingHdr(next, typ, segsLeft uint8) []byte {
	return []byte{next, 0, typ, segsLeft, 0, 0, 0, 0}
}

// walk runs the iterator to its end and returns what it met.
func walk(h Header) (exts []Ext, next uint8, off, nhPtr int, err error) {
	it := h.Exts()
	for {
		e, ok, err := it.Next()
		if err != nil {
			return exts, 0, 0, 0, err
		}
		if !ok {
			break
		}
		exts = append(exts, e)
	}
	next, off, nhPtr = it.Upper()
	return exts, next, off, nhPtr, nil
}

func TestExts_FullChain_WalkedInOrder(t *testing.T) {
	h := chain(ProtoHopByHop, []byte("udp!"),
		optsHdr(ProtoDestOpts, 0x05, 2, 0, 0), // router alert: 00, skipped
		optsHdr(ProtoRouting, OptPad1, OptPad1, OptPadN, 0),
		routingHdr(ProtoFragment, RoutingType0, 0), // RH0 with no segments left: ignored (RFC 5095 §3)
		fragHdr(ProtoUDP, 0, false, 0xdeadbeef),    // atomic: the walk goes on (RFC 6946)
	)
	exts, next, off, nhPtr, err := walk(h)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint8{ProtoHopByHop, ProtoDestOpts, ProtoRouting, ProtoFragment}
	if len(exts) != len(want) {
		t.Fatalf("walked %d headers, want %d", len(exts), len(want))
	}
	for i, e := range exts {
		if e.Proto != want[i] || e.Off != HeaderLen+8*i || len(e.Data) != 8 {
			t.Errorf("header %d: proto %d off %d len %d", i, e.Proto, e.Off, len(e.Data))
		}
	}
	if f := exts[3]; !f.Atomic() || f.FragID() != 0xdeadbeef || f.More() || f.FragOffset() != 0 {
		t.Errorf("fragment: atomic %v id %#x", f.Atomic(), f.FragID())
	}
	if next != ProtoUDP || off != HeaderLen+32 || nhPtr != HeaderLen+24 || string(h[off:]) != "udp!" {
		t.Errorf("upper = %d at %d (pointer %d)", next, off, nhPtr)
	}
}

func TestExts_NoExtension_UpperIsFixedHeaderNext(t *testing.T) {
	h, _ := Parse(echoRequest)
	exts, next, off, nhPtr, err := walk(h)
	if err != nil || len(exts) != 0 || next != ProtoICMPv6 || off != HeaderLen || nhPtr != offNextHeader {
		t.Errorf("exts %d next %d off %d ptr %d err %v", len(exts), next, off, nhPtr, err)
	}
}

func TestExts_NonAtomicFragment_StopsWalk(t *testing.T) {
	// After a fragment that is not atomic, the data is a piece of the
	// original payload: a destination options header inside it must not be
	// read (RFC 8200 §4.5).
	h := chain(ProtoFragment, optsHdr(ProtoUDP, 0xff, 0), fragHdr(ProtoDestOpts, 8, false, 7))
	exts, next, off, _, err := walk(h)
	if err != nil || len(exts) != 1 || exts[0].FragOffset() != 8 || exts[0].Atomic() {
		t.Fatalf("exts %v err %v", exts, err)
	}
	if next != ProtoDestOpts || off != HeaderLen+8 {
		t.Errorf("upper %d at %d", next, off)
	}
}

func TestExts_FragmentMoreWithOddLength_ParamProblemAtPayloadLength(t *testing.T) {
	h := chain(ProtoFragment, []byte("1234567"), fragHdr(ProtoUDP, 0, true, 1))
	_, _, _, _, err := walk(h)
	var pp *ParamProblem
	if !errors.As(err, &pp) || !errors.Is(err, ErrFragmentLen) || pp.Code != CodeErroneousHeader || pp.Pointer != 4 {
		t.Fatalf("err = %v", err)
	}
	h = chain(ProtoFragment, []byte("12345678"), fragHdr(ProtoUDP, 0, true, 1))
	if _, _, _, _, err := walk(h); err != nil {
		t.Errorf("M set, 8 octets: %v", err)
	}
}

func TestExts_Drops(t *testing.T) {
	var tooMany [][]byte
	for range MaxExtHeaders + 1 {
		tooMany = append(tooMany, optsHdr(ProtoDestOpts))
	}
	tooMany[MaxExtHeaders][0] = ProtoUDP // the ninth names no further header
	var eight [][]byte
	for range MaxExtHeaders {
		eight = append(eight, optsHdr(ProtoDestOpts))
	}
	eight[len(eight)-1][0] = ProtoNoNext
	for _, tt := range []struct {
		name    string
		h       Header
		want    error
		code    uint8
		pointer uint32
		action  Action
	}{
		{"header runs past packet", chain(ProtoDestOpts, nil, []byte{ProtoUDP, 1, 1, 4, 0, 0, 0, 0}), ErrExtTruncated, 0, 0, 0},
		{"fewer than 8 octets left", chain(ProtoDestOpts, nil, []byte{ProtoUDP, 0, 1, 2}), ErrExtTruncated, 0, 0, 0},
		{"fragment header cut", chain(ProtoFragment, nil, []byte{ProtoUDP, 0, 0, 0}), ErrExtTruncated, 0, 0, 0},
		{"nine headers", chain(ProtoDestOpts, nil, tooMany...), ErrTooManyExt, 0, 0, 0},
		{"option length beyond header", chain(ProtoDestOpts, nil, []byte{ProtoUDP, 0, OptPadN, 5, 0, 0, 0, 0}), ErrOptionTruncated, 0, 0, 0},
		{"option type in last octet", chain(ProtoDestOpts, nil, []byte{ProtoUDP, 0, 0, 0, 0, 0, 0, 0x05}), ErrOptionTruncated, 0, 0, 0},
		{"hop-by-hop second", chain(ProtoDestOpts, nil, optsHdr(ProtoHopByHop), optsHdr(ProtoUDP)), ErrHopByHopNotFirst, CodeUnknownNextHeader, HeaderLen, ActDiscardICMP},
		{"routing type 0 with segments left", chain(ProtoRouting, nil, routingHdr(ProtoUDP, RoutingType0, 1)), ErrRoutingType0, CodeErroneousHeader, HeaderLen + 2, ActDiscardICMP},
		{"routing type 4 with segments left", chain(ProtoDestOpts, nil, optsHdr(ProtoRouting), routingHdr(ProtoUDP, 4, 3)), ErrRoutingUnknown, CodeErroneousHeader, HeaderLen + 10, ActDiscardICMP},
		{"unknown option 01", chain(ProtoDestOpts, nil, optsHdr(ProtoUDP, OptPad1, 0x41, 0)), ErrUnknownOption, CodeUnknownOption, HeaderLen + 3, ActDiscard},
		{"unknown option 10", chain(ProtoHopByHop, nil, optsHdr(ProtoUDP, 0x80, 1, 9)), ErrUnknownOption, CodeUnknownOption, HeaderLen + 2, ActDiscardICMP},
		{"jumbo payload 11 after padding", chain(ProtoHopByHop, nil, optsHdr(ProtoUDP, OptPadN, 0, 0xc2, 4, 0, 1, 0, 0)), ErrUnknownOption, CodeUnknownOption, HeaderLen + 4, ActDiscardICMPUcast},
	} {
		_, _, _, _, err := walk(tt.h)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			continue
		}
		var pp *ParamProblem
		if errors.As(err, &pp) != (tt.action != 0) {
			t.Errorf("%s: %v: parameter problem expected: %v", tt.name, err, tt.action != 0)
			continue
		}
		if pp != nil && (pp.Code != tt.code || pp.Pointer != tt.pointer || pp.Action != tt.action) {
			t.Errorf("%s: code %d pointer %d action %d, want %d %d %d", tt.name, pp.Code, pp.Pointer, pp.Action, tt.code, tt.pointer, tt.action)
		}
	}
	if _, next, _, _, err := walk(chain(ProtoDestOpts, nil, eight...)); err != nil || next != ProtoNoNext {
		t.Errorf("eight headers: next %d err %v, want 59 and no error", next, err)
	}
}

func TestParamProblem_SendICMP_FollowsHighBits(t *testing.T) {
	// RFC 8200 §4.2: 01 never answers; 10 answers even to multicast; 11
	// answers only to unicast.
	for _, tt := range []struct {
		typ         uint8
		ucast, mcst bool
	}{
		{0x41, false, false}, {0x80, true, true}, {0xc2, true, false},
	} {
		pp := &ParamProblem{Action: OptionAction(tt.typ)}
		if pp.SendICMP(false) != tt.ucast || pp.SendICMP(true) != tt.mcst {
			t.Errorf("type %#x: unicast %v multicast %v", tt.typ, pp.SendICMP(false), pp.SendICMP(true))
		}
	}
	if OptionAction(0x05) != ActSkip || OptionAction(0x3f) != ActSkip {
		t.Error("00 options are not skipped")
	}
}

func TestExts_DoneIteratorStaysDone(t *testing.T) {
	h := chain(ProtoDestOpts, nil, []byte{ProtoUDP, 9, 0, 0, 0, 0, 0, 0})
	it := h.Exts()
	if _, _, err := it.Next(); err == nil {
		t.Fatal("no error")
	}
	if _, ok, err := it.Next(); ok || err != nil {
		t.Errorf("after an error: ok %v err %v", ok, err)
	}
}

func TestExts_AtomicFragment_WalkGoesOn_OffsetZeroWithMStops(t *testing.T) {
	// RFC 6946 §4: an atomic fragment is processed in isolation, so the
	// headers after it are walked.
	h := chain(ProtoFragment, []byte("udp!"), fragHdr(ProtoDestOpts, 0, false, 5), optsHdr(ProtoUDP))
	exts, next, off, _, err := walk(h)
	if err != nil || len(exts) != 2 || !exts[0].Atomic() || exts[1].Proto != ProtoDestOpts || next != ProtoUDP || off != HeaderLen+16 {
		t.Fatalf("exts %d next %d off %d err %v", len(exts), next, off, err)
	}
	// Offset 0 with M set is the first fragment, not an atomic one.
	h = chain(ProtoFragment, optsHdr(ProtoUDP), fragHdr(ProtoDestOpts, 0, true, 5))
	exts, next, _, _, err = walk(h)
	if err != nil || len(exts) != 1 || exts[0].Atomic() || !exts[0].More() || next != ProtoDestOpts {
		t.Fatalf("first fragment: exts %d next %d err %v", len(exts), next, err)
	}
}

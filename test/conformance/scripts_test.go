package conformance

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
)

var (
	peerUDP   = netip.AddrPortFrom(peerIP, 40000)
	closedUDP = netip.AddrPortFrom(stackIP, 9999)
	openPort  = uint16(7)
)

func echoFrame(f ipv4.Fields, seq uint16, n int) []byte {
	f.Protocol = ipv4.ProtoICMP
	return ipFrame(f, echoRequest(seq, n))
}

func udpFrame(f ipv4.Fields, dst netip.AddrPort, payload []byte) []byte {
	f.Protocol = ipv4.ProtoUDP
	if !f.Dst.IsValid() {
		f.Dst = dst.Addr()
	}
	return ipFrame(f, udpDatagram(peerUDP, netip.AddrPortFrom(f.Dst, dst.Port()), payload))
}

// fragmented returns the fragments, at a 1500-octet MTU, of an echo request
// carrying n data octets.
func fragmentedEcho(seq uint16, n int) (ipv4.Fields, []byte, [][]byte) {
	f := ipv4.Fields{Protocol: ipv4.ProtoICMP, ID: 0x4242}
	msg := echoRequest(seq, n)
	return f, msg, fragments(f, msg)
}

func injectAll(what string, frames [][]byte) []step {
	var out []step
	for i, fr := range frames {
		out = append(out, inject(fmt.Sprintf("%s #%d", what, i), fr))
	}
	return out
}

// scripts is every exchange the differential test plays. Each starts, in
// the harness, with the peer's ARP request for 10.0.0.2.
func scripts() []script {
	var sc []script
	add := func(name string, norms []normalizer, steps ...step) {
		sc = append(sc, script{name: name, steps: steps, normalize: norms})
	}
	// The normalizers an IP script may need, each used only where the
	// stacks differ in what it erases (TestDifferential fails if one is
	// not needed); tapstack's pinned transcript still shows it
	// (pinReason): icmpErr, for an ICMP error's TOS (shown by
	// ICMPErrorTOS_InternetControl); Long, for the ARP refreshes of a
	// script that runs past the neighbour entry's lifetime (shown by
	// NeighbourStale_RefreshedByUnicastProbes).
	icmpErr := []normalizer{errorTOS}
	icmpErrLong := []normalizer{errorTOS, dropARP}

	// --- ARP (RFC 826, RFC 5227) ---
	add("ARPRequestForUs_Replies", nil,
		inject("a second ARP request for 10.0.0.2", learnPeerFrame()))
	add("ARPRequestForOtherHost_Ignored", nil,
		inject("ARP who-has 10.0.0.77 tell 10.0.0.1", arpFrame(arp.OpRequest, peerMAC, peerIP, ethernet.MAC{}, otherIP, ethernet.Broadcast)))
	add("ARPProbeForOurAddress_Defended", nil,
		inject("ARP probe who-has 10.0.0.2 tell 0.0.0.0 (RFC 5227)", arpFrame(arp.OpRequest, peerMAC2, netip.IPv4Unspecified(), ethernet.MAC{}, stackIP, ethernet.Broadcast)))
	add("GratuitousARPFromPeer_UpdatesCache", nil,
		inject("gratuitous ARP request: 10.0.0.1 is now at 02:00:00:00:00:03", arpFrame(arp.OpRequest, peerMAC2, peerIP, ethernet.MAC{}, peerIP, ethernet.Broadcast)),
		inject("echo request 56 from 10.0.0.1", echoFrame(ipv4.Fields{}, 1, 56)))

	// --- ICMP echo (RFC 792, RFC 1122 §3.2.2.6) ---
	add("Echo56_Replies", nil, inject("echo request, 56 data octets", echoFrame(ipv4.Fields{}, 1, 56)))
	add("EchoTOS0x10_ReplyKeepsTOS", nil, inject("echo request, TOS 0x10", echoFrame(ipv4.Fields{TOS: 0x10}, 1, 56)))
	add("Echo1472_FillsMTU", nil, inject("echo request, 1472 data octets (1500-octet datagram)", echoFrame(ipv4.Fields{}, 1, 1472)))
	{
		_, _, frs := fragmentedEcho(3, 3000)
		add("Echo3000InOrderFragments_Reassembled", nil, injectAll("fragment", frs)...)
		rev := slices.Clone(frs)
		slices.Reverse(rev)
		add("Echo3000ReversedFragments_Reassembled", nil, injectAll("fragment (reversed)", rev)...)
		add("Echo3000DuplicateFragment_Reassembled", nil, injectAll("fragment", [][]byte{frs[0], frs[1], frs[1], frs[2]})...)
	}
	{
		f, msg, _ := fragmentedEcho(4, 3000)
		add("Echo3000OverlappingFragment_Dropped", nil,
			inject("fragment [0,1480) MF", fragment(f, msg, 0, 1480)),
			inject("fragment [1000,2480) MF, overlapping the first by 480 octets", fragment(f, msg, 1000, 1480)),
			inject("fragment [2480,3008)", fragment(f, msg, 2480, 1480)),
		)
	}
	{
		_, _, frs := fragmentedEcho(5, 65507)
		add("EchoLargest65507_FragmentsBothWays", nil, injectAll("fragment", frs)...)
	}
	add("EchoToSubnetBroadcast_Ignored", nil, inject("echo request to 10.0.0.255", echoFrame(ipv4.Fields{Dst: subnetBC}, 1, 56)))
	add("EchoToLimitedBroadcast_Ignored", nil, inject("echo request to 255.255.255.255", echoFrame(ipv4.Fields{Dst: limitedBC}, 1, 56)))
	{
		fr := echoFrame(ipv4.Fields{}, 1, 56)
		fr[ethernet.HeaderLen+ipv4.HeaderMinLen+2] ^= 0xff
		add("EchoBadICMPChecksum_Dropped", nil, inject("echo request with a bad ICMP checksum", fr))
	}
	add("EchoTTL1_Replies", nil, inject("echo request with TTL 1", echoFrame(ipv4.Fields{TTL: 1}, 1, 56)))
	{
		// RFC 791 §3.1 Timestamp / Record Route: a record-route option with
		// room for two addresses, pointer at the first slot.
		rr := []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		add("EchoRecordRouteOption", nil, inject("echo request with a record-route option (2 slots)", echoFrame(ipv4.Fields{Options: rr}, 1, 56)))
		// A loose source route whose pointer is past its end: the route is
		// complete and we are the final destination.
		lsrr := []byte{131, 7, 8, 10, 0, 0, 1, 0}
		add("EchoLooseSourceRouteOption", nil, inject("echo request with an LSRR option (route complete)", echoFrame(ipv4.Fields{Options: lsrr}, 1, 56)))
		ssrr := []byte{137, 7, 8, 10, 0, 0, 1, 0}
		add("EchoStrictSourceRouteOption", nil, inject("echo request with an SSRR option (route complete)", echoFrame(ipv4.Fields{Options: ssrr}, 1, 56)))
	}
	add("TimestampRequest", nil,
		inject("ICMP timestamp request (13)", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, func() []byte {
			m := make(ipv4.ICMP, 20)
			m.SetType(ipv4.TypeTimestamp)
			m.SetIdent(0x7a7a)
			m.SetSeq(1)
			binary.BigEndian.PutUint32(m[8:], 12345678)
			m.SetChecksum()
			return m
		}())))
	{
		// An ICMP port unreachable from the peer quoting a UDP datagram we
		// supposedly sent: it must be consumed, never answered.
		orig := udpFrame(ipv4.Fields{Src: stackIP, Dst: peerIP}, netip.AddrPortFrom(peerIP, 53), pattern(20))
		msg := make([]byte, ipv4.ICMPHeaderLen+len(orig)-ethernet.HeaderLen)
		ipv4.EncodeError(msg, ipv4.TypeDestUnreachable, ipv4.CodePortUnreachable, 0, ipv4.Header(orig[ethernet.HeaderLen:]))
		add("IncomingDestUnreachable_NotAnswered", nil, inject("ICMP 3/3 quoting a UDP datagram 10.0.0.2:40000 > 10.0.0.1:53", ipFrame(ipv4.Fields{Protocol: ipv4.ProtoICMP}, msg)))
	}

	// --- IPv4 header checks (RFC 1122 §3.2.1) ---
	add("IPBadHeaderChecksum_Dropped", nil, inject("echo request, header checksum off by one",
		mangleIP(echoFrame(ipv4.Fields{}, 1, 56), false, func(h []byte) { h[11]++ })))
	add("IPHeaderLength4_Dropped", nil, inject("echo request with IHL 4",
		mangleIP(echoFrame(ipv4.Fields{}, 1, 56), true, func(h []byte) { h[0] = 0x44 })))
	add("IPTotalLengthBeyondFrame_Dropped", nil, inject("echo request whose total length is 100 octets past the frame",
		mangleIP(echoFrame(ipv4.Fields{}, 1, 56), true, func(h []byte) { binary.BigEndian.PutUint16(h[2:], binary.BigEndian.Uint16(h[2:])+100) })))
	add("IPVersion6InIPv4Frame_Dropped", nil, inject("echo request with version 6 in an IPv4 (0x0800) frame",
		mangleIP(echoFrame(ipv4.Fields{}, 1, 56), true, func(h []byte) { h[0] = 0x65 })))
	add("UnknownProtocol253_ProtocolUnreachable", icmpErr, inject("IP protocol 253, 32 octets", ipFrame(ipv4.Fields{Protocol: 253}, pattern(32))))

	// --- UDP (RFC 768, RFC 1122 §4.1.3) ---
	add("UDPClosedPort_PortUnreachable", icmpErr, inject("UDP to 10.0.0.2:9999, 100 octets", udpFrame(ipv4.Fields{}, closedUDP, pattern(100))))
	add("UDPClosedPortLargeDatagram_QuoteCut", icmpErr, inject("UDP to 10.0.0.2:9999, 1400 octets", udpFrame(ipv4.Fields{}, closedUDP, pattern(1400))))
	add("UDPClosedPortSubnetBroadcast_NoError", nil, inject("UDP to 10.0.0.255:9999", udpFrame(ipv4.Fields{Dst: subnetBC}, closedUDP, pattern(100))))
	add("UDPClosedPortLimitedBroadcast_NoError", nil, inject("UDP to 255.255.255.255:9999", udpFrame(ipv4.Fields{Dst: limitedBC}, closedUDP, pattern(100))))
	add("UDPOpenPort_DeliveredNoICMP", nil,
		listenUDP(openPort),
		inject("UDP to 10.0.0.2:7, 100 octets", udpFrame(ipv4.Fields{}, netip.AddrPortFrom(stackIP, openPort), pattern(100))),
		recvUDP(openPort))
	{
		fr := udpFrame(ipv4.Fields{}, closedUDP, pattern(100))
		fr[ethernet.HeaderLen+ipv4.HeaderMinLen+6] ^= 0x5a
		add("UDPBadChecksumClosedPort_DroppedSilently", nil, inject("UDP to :9999 with a bad checksum", fr))
		fr = udpFrame(ipv4.Fields{}, netip.AddrPortFrom(stackIP, openPort), pattern(100))
		fr[ethernet.HeaderLen+ipv4.HeaderMinLen+6] ^= 0x5a
		add("UDPBadChecksumOpenPort_NotDelivered", nil,
			listenUDP(openPort),
			inject("UDP to :7 with a bad checksum", fr),
			recvUDP(openPort))
		fr = udpFrame(ipv4.Fields{}, closedUDP, pattern(100))
		fr[ethernet.HeaderLen+ipv4.HeaderMinLen+6], fr[ethernet.HeaderLen+ipv4.HeaderMinLen+7] = 0, 0
		add("UDPZeroChecksumClosedPort_PortUnreachable", icmpErr, inject("UDP to :9999 with checksum 0 (none)", fr))
	}

	add("ICMPErrorTOS_InternetControl", nil,
		inject("UDP to 10.0.0.2:9999 with TOS 0x10", udpFrame(ipv4.Fields{TOS: 0x10}, closedUDP, pattern(20))))

	// --- Reassembly timeout (RFC 1122 §3.3.2, RFC 792 time exceeded 11/1) ---
	{
		f := ipv4.Fields{Protocol: ipv4.ProtoUDP, ID: 0x4343}
		msg := udpDatagram(peerUDP, closedUDP, pattern(3000))
		add("FirstFragmentOnlyUDP_TimeExceededAfter30s", icmpErrLong,
			inject("first fragment [0,1480) MF only, of a UDP datagram to :9999", fragment(f, msg, 0, 1480)),
			advance(29*time.Second),
			advance(1*time.Second),
			advance(60*time.Second))
		add("LaterFragmentOnly_NoTimeExceeded", nil,
			inject("middle fragment [1480,2960) MF only, of a UDP datagram", fragment(f, msg, 1480, 1480)),
			advance(30*time.Second),
			advance(60*time.Second))
	}
	{
		f, msg, _ := fragmentedEcho(6, 3000)
		add("FirstFragmentOnlyICMP_TimeExceededAfter30s", icmpErrLong,
			inject("first fragment [0,1480) MF only, of an echo request", fragment(f, msg, 0, 1480)),
			advance(30*time.Second))
	}

	// --- Neighbour refresh (RFC 1122 §2.3.2.1) ---
	add("NeighbourLearnedFromRequest_ProbedAfterUse", nil,
		inject("echo request 56 right after the peer's ARP request", echoFrame(ipv4.Fields{}, 1, 56)),
		advance(5*time.Second),
		advance(1*time.Second),
		advance(1*time.Second),
		advance(1*time.Second))
	add("NeighbourStale_RefreshedByUnicastProbes", nil,
		advance(40*time.Second),
		inject("echo request 56, 40 s after the peer's ARP request", echoFrame(ipv4.Fields{}, 1, 56)),
		advance(1*time.Second),
		advance(4*time.Second),
		advance(1*time.Second),
		advance(1*time.Second),
		advance(1*time.Second),
		advance(10*time.Second),
		inject("echo request 56 after the refresh went unanswered", echoFrame(ipv4.Fields{}, 2, 56)),
		advance(5*time.Second))
	return append(sc, tcpScripts()...)
}

// knownDiff is a difference between tapstack and gVisor that we accept (or
// have a bug filed for). The test fails if it disappears, so the table
// cannot rot.
type knownDiff struct {
	reason string
	// linux says which stack behaves as Linux does: "tapstack", "gVisor",
	// "neither" or "both" (when they differ only where Linux is silent).
	linux string
}

// knownDiffs is every known difference, by script name.
var knownDiffs = mergeMaps(ipKnownDiffs, tcpKnownDiffs, sackKnownDiffs)

// linuxDeviations lists scripts where tapstack and gVisor agree with each
// other but not with Linux. They are not asserted beyond being identical;
// the list is for CONFORMANCE.md.
var linuxDeviations = mergeMaps(ipLinuxDeviations, tcpLinuxDeviations)

func mergeMaps[V any](ms ...map[string]V) map[string]V {
	out := make(map[string]V)
	for _, m := range ms {
		for k, v := range m {
			if _, dup := out[k]; dup {
				panic("two tables list " + k)
			}
			out[k] = v
		}
	}
	return out
}

// ipKnownDiffs are the known differences of the ARP, IPv4, ICMP and UDP
// scripts.
var ipKnownDiffs = map[string]knownDiff{
	"GratuitousARPFromPeer_UpdatesCache": {
		reason: "a gratuitous ARP request (spa = tpa = 10.0.0.1) with a new MAC updates tapstack's existing entry (RFC 826 merge, Linux arp_process with is_garp); gVisor ignores ARP requests not targeted at its own address and keeps replying to the old MAC",
		linux:  "tapstack",
	},
	"EchoToSubnetBroadcast_Ignored": {
		reason: "gVisor answers an echo request sent to 10.0.0.255; tapstack ignores it like Linux (icmp_echo_ignore_broadcasts=1, anti-smurf; RFC 1122 §3.2.2.6 allows either)",
		linux:  "tapstack",
	},
	"EchoToLimitedBroadcast_Ignored": {
		reason: "gVisor answers an echo request sent to 255.255.255.255; tapstack ignores it like Linux (icmp_echo_ignore_broadcasts=1)",
		linux:  "tapstack",
	},
	"EchoRecordRouteOption": {
		reason: "RFC 1122 §3.2.2.6: a Record Route option SHOULD be updated and returned in the reply. tapstack records 10.0.0.2 on input and again on output (pointer 12), as Linux (ip_options_compile, ip_options_echo, ip_options_build); gVisor records it once (pointer 8)",
		linux:  "tapstack",
	},
	"TimestampRequest": {
		reason: "tapstack answers an ICMP timestamp request (13) with a timestamp reply (14), as Linux (icmp_timestamp; RFC 1122 §3.2.2.8 makes it a MAY); gVisor does not answer",
		linux:  "tapstack",
	},
	"EchoLooseSourceRouteOption": {
		reason: "tapstack drops a source-routed (LSRR) datagram, as Linux does by default (accept_source_route=0; RFC 1122 §3.3.5 makes accepting optional); gVisor answers the echo with 4 octets of zeroed options instead of the reversed route RFC 1122 §3.2.2.6 asks for",
		linux:  "tapstack",
	},
	"EchoStrictSourceRouteOption": {
		reason: "as EchoLooseSourceRouteOption, for SSRR",
		linux:  "tapstack",
	},
	"ICMPErrorTOS_InternetControl": {
		reason: "tapstack's ICMP errors carry TOS (orig & 0x1e) | 0xc0 (precedence internetwork control, RFC 1812 §4.3.2.5), as Linux's icmp_send; gVisor's carry TOS 0",
		linux:  "tapstack",
	},
	"FirstFragmentOnlyICMP_TimeExceededAfter30s": {
		reason: "when the incomplete datagram is ICMP, gVisor sends no time exceeded (11/1) on reassembly timeout: returnError cannot see the first fragment's ICMP header and treats it as malformed; tapstack sends it, as Linux's ip_expire does",
		linux:  "tapstack",
	},
	"NeighbourLearnedFromRequest_ProbedAfterUse": {
		reason: "an entry learned from an ARP request is STALE in Linux and gVisor, so using it starts DELAY (5 s) then 3 unicast probes 1 s apart; tapstack makes it REACHABLE for 30 s and sends nothing",
		linux:  "gVisor",
	},
	"NeighbourStale_RefreshedByUnicastProbes": {
		reason: "using a stale entry: tapstack sends a unicast ARP probe at once, before the datagram, then 2 more 1 s apart; Linux and gVisor send the datagram, wait 5 s (DELAY, delay_first_probe_time) and then probe 3 times 1 s apart. After the probes fail both re-resolve by broadcast identically",
		linux:  "gVisor",
	},
}

// ipLinuxDeviations are linuxDeviations of the ARP, IPv4, ICMP and UDP
// scripts.
var ipLinuxDeviations = map[string]string{}

// TestDifferential plays every script against tapstack and gVisor and
// requires identical normalised output, except for the known differences,
// which must still be there; and where the comparison says little about
// tapstack (a known difference, a field normalised away), tapstack's
// transcript must match its pinned one (checkPinned).
func TestDifferential(t *testing.T) {
	for _, sc := range scripts() {
		t.Run(sc.name, func(t *testing.T) {
			if sc.tcp && gvisorTCP == nil {
				t.Skip("gVisor's TCP is not linked in (see gvisorTCP)")
			}
			tapRaw, gvRaw := compare(t, sc)
			tap, gv := tapRaw.normalized(sc.normalize), gvRaw.normalized(sc.normalize)
			same := sameTranscripts(tap, gv)
			kd, known := knownDiffs[sc.name]
			switch {
			case tap.panic != "" || gv.panic != "":
				t.Errorf("a stack panicked:\n%s", diffTranscripts(sc, tap, gv))
			case known && same:
				t.Errorf("known difference %q is gone: both stacks now behave the same; remove it from knownDiffs (and CONFORMANCE.md)\n%s", kd.reason, diffTranscripts(sc, tap, gv))
			case known:
				t.Logf("known difference (Linux: %s): %s\n%s", kd.linux, kd.reason, diffTranscripts(sc, tap, gv))
			case !same:
				t.Errorf("tapstack and gVisor differ:\n%s", diffTranscripts(sc, tap, gv))
			default:
				t.Logf("identical:\n%s", diffTranscripts(sc, tap, gv))
			}
			if tap.panic == "" {
				checkPinned(t, sc, tapRaw)
				checkNormalizersNeeded(t, sc, known, tapRaw, gvRaw)
			}
		})
	}
}

// checkNormalizersNeeded fails for a normalizer sc does not need, so that
// no field is erased from the comparison where both stacks agree on it:
// without it, a script that matches must differ, and a known difference
// must look different.
func checkNormalizersNeeded(t *testing.T, sc script, known bool, tapRaw, gvRaw transcript) {
	t.Helper()
	for _, n := range sc.normalize {
		without := slices.DeleteFunc(slices.Clone(sc.normalize), func(m normalizer) bool { return m.name == n.name })
		tapW, gvW := tapRaw.normalized(without), gvRaw.normalized(without)
		switch {
		case !known && sameTranscripts(tapW, gvW):
			t.Errorf("normalizer %s is not needed: the stacks agree on what it erases; drop it from the script", n.name)
		case known && sameTranscripts(tapW, tapRaw.normalized(sc.normalize)) && sameTranscripts(gvW, gvRaw.normalized(sc.normalize)):
			t.Errorf("normalizer %s changes nothing in either transcript; drop it from the script", n.name)
		}
	}
}

// TestGroupedSteps_EachNeeded fails for a grouped step (withDelAck, a
// groupStep) in a script that would match gVisor without it: a group
// hides when within it each frame was sent, which must be compared where
// both stacks agree.
func TestGroupedSteps_EachNeeded(t *testing.T) {
	for _, sc := range scripts() {
		if _, known := knownDiffs[sc.name]; known || (sc.tcp && gvisorTCP == nil) {
			continue // a known difference's groups only shape the diff; its pinned transcript shows the timing
		}
		for i, st := range sc.steps {
			g, ok := st.(groupStep)
			if !ok {
				continue
			}
			ungrouped := sc
			ungrouped.steps = slices.Concat(sc.steps[:i], g.leaves(), sc.steps[i+1:])
			tap, gv := compare(t, ungrouped)
			if sameTranscripts(tap.normalized(sc.normalize), gv.normalized(sc.normalize)) {
				t.Errorf("%s: step %d (%s) need not be grouped: both stacks send the same after each of its steps", sc.name, i+1, g)
			}
		}
	}
}

// TestKnownDifferences_NameExistingScripts keeps the table honest: every
// entry names a script.
func TestKnownDifferences_NameExistingScripts(t *testing.T) {
	names := map[string]bool{}
	for _, sc := range scripts() {
		if names[sc.name] {
			t.Errorf("two scripts are named %q", sc.name)
		}
		names[sc.name] = true
	}
	for name := range linuxDeviations {
		if !names[name] {
			t.Errorf("linuxDeviations names %q, which is no script", name)
		}
		if _, ok := knownDiffs[name]; ok {
			t.Errorf("%q is in both knownDiffs and linuxDeviations", name)
		}
	}
	for name, kd := range knownDiffs {
		if !names[name] {
			t.Errorf("knownDiffs names %q, which is no script", name)
		}
		switch kd.linux {
		case "tapstack", "gVisor", "neither", "both":
		default:
			t.Errorf("knownDiffs[%q].linux = %q, want tapstack, gVisor, neither or both", name, kd.linux)
		}
	}
}

// TestHarness_BothTargetsAnswerEcho guards the harness itself: if a target
// were miswired, every "dropped" script would pass with both stacks silent.
func TestHarness_BothTargetsAnswerEcho(t *testing.T) {
	sc := script{name: "echo", steps: []step{inject("echo request", echoFrame(ipv4.Fields{}, 1, 56))}}
	for _, tgt := range []target{newTapTarget(t, targetConfig{}), newGvisorTarget(t, targetConfig{})} {
		tr := play(sc, tgt)
		tgt.close()
		if len(tr.steps) != 2 || len(tr.steps[0]) != 1 || len(tr.steps[1]) != 1 {
			t.Fatalf("%s: want one ARP reply then one echo reply, got %d steps: %v", tgt.name(), len(tr.steps), tr.steps)
		}
		rep := tr.steps[1][0].frame
		if len(rep) < ethernet.HeaderLen+ipv4.HeaderMinLen+1 || ethernet.Header(rep).Type() != ethernet.TypeIPv4 || rep[ethernet.HeaderLen+ipv4.HeaderMinLen] != ipv4.TypeEchoReply {
			t.Errorf("%s: want an echo reply, got %s", tgt.name(), tr.steps[1][0])
		}
		if arpRep := tr.steps[0][0].frame; ethernet.Header(arpRep).Type() != ethernet.TypeARP {
			t.Errorf("%s: want an ARP reply to the setup request, got %s", tgt.name(), tr.steps[0][0])
		}
	}
}

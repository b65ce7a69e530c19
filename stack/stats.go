package stack

// Stats are the stack's counters, one struct per layer, named after the
// netstat -s / SNMP MIB counters where one exists. Every frame or datagram
// the stack drops is counted in exactly one drop counter with its reason.
// Stats is a value: Stack.Stats returns a consistent snapshot, and it encodes
// to JSON as the daemon's /stats page.
type Stats struct {
	Link LinkStats `json:"link"`
	ARP  ARPStats  `json:"arp"`
	IPv4 IPv4Stats `json:"ipv4"`
	ICMP ICMPStats `json:"icmp"`
	UDP  UDPStats  `json:"udp"`
	TCP  TCPStats  `json:"tcp"`
	// Offload counts what the device's offloads (a TAP opened with the
	// virtio-net header) saved the stack.
	Offload OffloadStats `json:"offload"`
	// IPv6 counts IPv6 and ICMPv6 (RFC 4293, /proc/net/snmp6).
	IPv6 IPv6Stats `json:"ipv6"`
	// ND6 counts neighbour and router discovery, IPv6 address
	// configuration and MLD (nd6.go).
	ND6 ND6Stats `json:"nd6"`
}

// IPv6Stats follows the IPv6 group of RFC 4293 (ipSystemStats for ipv6)
// and, prefixed icmp6_, the ICMPv6 counters of Linux's /proc/net/snmp6.
type IPv6Stats struct {
	InReceives      uint64 `json:"in_receives"`
	InDelivers      uint64 `json:"in_delivers"`
	InTruncated     uint64 `json:"in_truncated"`       // shorter than 40 octets, or an extension header beyond the packet
	InBadVersion    uint64 `json:"in_bad_version"`     // version not 6
	InBadPayloadLen uint64 `json:"in_bad_payload_len"` // payload length beyond the frame
	InBadSource     uint64 `json:"in_bad_source"`      // multicast source; echo request from ::
	InAddrErrors    uint64 `json:"in_addr_errors"`     // not addressed to us (we do not forward)
	InHdrErrors     uint64 `json:"in_hdr_errors"`      // extension-header walk: parameter problem, too many headers
	InUnknownProtos uint64 `json:"in_unknown_protos"`  // no handler for the upper layer yet
	// Reassembly (RFC 8200 §4.5) as Linux's Ip6Reasm*: requests per
	// fragment received (atomic ones included), OKs per packet
	// reassembled, fails per packet given up (overlaps, no memory,
	// timeouts, contradictions: each also counted by reason below).
	ReasmReqds      uint64 `json:"reasm_reqds"`
	ReasmOKs        uint64 `json:"reasm_oks"`
	ReasmFails      uint64 `json:"reasm_fails"`
	ReasmTimeout    uint64 `json:"reasm_timeout"`
	ReasmOverlaps   uint64 `json:"reasm_overlaps"`   // RFC 5722: the packet discarded
	ReasmNoMemory   uint64 `json:"reasm_no_memory"`  // fragment refused: the reassembler's bounds
	ReasmDuplicates uint64 `json:"reasm_duplicates"` // fragment whose data was held: dropped alone
	ReasmDiscarded  uint64 `json:"reasm_discarded"`  // fragment of a packet discarded for an overlap
	// Fragmentation at the source, as Linux's Ip6Frag*.
	FragOKs     uint64 `json:"frag_oks"`
	FragCreates uint64 `json:"frag_creates"`
	FragFails   uint64 `json:"frag_fails"`
	OutRequests uint64 `json:"out_requests"`
	OutNoRoutes uint64 `json:"out_no_routes"` // next hop not resolvable
	OutDiscards uint64 `json:"out_discards"`  // could not be sent

	ICMP6InMsgs             uint64 `json:"icmp6_in_msgs"`
	ICMP6InErrors           uint64 `json:"icmp6_in_errors"` // truncated or bad checksum
	ICMP6InEchos            uint64 `json:"icmp6_in_echos"`
	ICMP6InEchoReps         uint64 `json:"icmp6_in_echo_reps"`
	ICMP6InNeighborSolicits uint64 `json:"icmp6_in_neighbor_solicits"`
	ICMP6InBadND            uint64 `json:"icmp6_in_bad_nd"`   // fails RFC 4861 §7.1 validation
	ICMP6NDNotOurs          uint64 `json:"icmp6_nd_not_ours"` // solicitation for a target not ours
	// ICMP6InErrorsUnmatched counts ICMPv6 errors quoting no packet of
	// ours a transport endpoint still has.
	ICMP6InErrorsUnmatched  uint64 `json:"icmp6_in_errors_unmatched"`
	ICMP6OutMsgs            uint64 `json:"icmp6_out_msgs"`
	ICMP6OutEchoReps        uint64 `json:"icmp6_out_echo_reps"`
	ICMP6OutEchos           uint64 `json:"icmp6_out_echos"`
	ICMP6OutNeighborAdverts uint64 `json:"icmp6_out_neighbor_adverts"`
	// ICMPv6 errors (RFC 4443): Packet Too Big received (and those not
	// acted on, RFC 8201 §4), errors sent by type, and errors not sent:
	// forbidden by §2.4 (e), or over the per-destination or the global
	// rate limit (§2.4 (f); Linux's Icmp6OutRateLimitHost and
	// IcmpOutRateLimitGlobal).
	ICMP6InPktTooBigs        uint64 `json:"icmp6_in_pkt_too_bigs"`
	ICMP6InPTBIgnored        uint64 `json:"icmp6_in_ptb_ignored"`
	ICMP6OutDestUnreachs     uint64 `json:"icmp6_out_dest_unreachs"`
	ICMP6OutPktTooBigs       uint64 `json:"icmp6_out_pkt_too_bigs"`
	ICMP6OutTimeExcds        uint64 `json:"icmp6_out_time_excds"`
	ICMP6OutParmProblems     uint64 `json:"icmp6_out_parm_problems"`
	ICMP6OutErrorsSuppressed uint64 `json:"icmp6_out_errors_suppressed"`
	ICMP6OutRateLimitHost    uint64 `json:"icmp6_out_rate_limit_host"`
	ICMP6OutRateLimitGlobal  uint64 `json:"icmp6_out_rate_limit_global"`
}

// OffloadStats counts received frames the device's offloads changed:
// TCP and UDP checksums the stack did not compute because the kernel
// vouched for them (CHECKSUM_PARTIAL or CHECKSUM_UNNECESSARY in Linux's
// terms), and TCP super-segments the kernel merged (GRO) or never split
// (TSO), with the MSS-sized segments they stand for and their payload bytes
// (the mean super-segment is GROBytesIn/GROIn).
//
// On the send side: TCP segments of several MSS (generic segmentation
// offload, gso.go) handed whole to a device that agreed to TSO, with the
// segments they stand for and their payload bytes (the mean is
// TSOBytesOut/TSOOut); and those the stack cut itself for a device
// without TSO (or for loopback, the ARP queue), with the datagrams made.
type OffloadStats struct {
	CsumSkipped    uint64 `json:"csum_skipped"`
	GROIn          uint64 `json:"gro_in"`
	GROSegsIn      uint64 `json:"gro_segs_in"`
	GROBytesIn     uint64 `json:"gro_bytes_in"`
	TSOOut         uint64 `json:"tso_out"`
	TSOSegsOut     uint64 `json:"tso_segs_out"`
	TSOBytesOut    uint64 `json:"tso_bytes_out"`
	SoftGSOOut     uint64 `json:"soft_gso_out"`
	SoftGSOSegsOut uint64 `json:"soft_gso_segs_out"`
}

// LinkStats counts Ethernet frames or, on an IP link (a TUN), packets:
// FramesIn and FramesOut count one per packet, BytesIn and BytesOut the
// packets' bytes, there being no link header.
type LinkStats struct {
	FramesIn         uint64 `json:"frames_in"`
	BytesIn          uint64 `json:"bytes_in"`
	FramesOut        uint64 `json:"frames_out"`
	BytesOut         uint64 `json:"bytes_out"`
	Malformed        uint64 `json:"malformed"`          // shorter than an Ethernet header (IP link: empty)
	NotForUs         uint64 `json:"not_for_us"`         // unicast to another MAC, or multicast we did not join
	UnknownEtherType uint64 `json:"unknown_ether_type"` // IPv6, VLAN, ...
	UnknownVersion   uint64 `json:"unknown_ip_version"` // IP link: version nibble not 4 (IPv6, ...)
	WriteErrors      uint64 `json:"write_errors"`       // the device refused a frame
}

// ARPStats counts ARP packets and neighbour resolution.
type ARPStats struct {
	RequestsIn       uint64 `json:"requests_in"`
	RepliesIn        uint64 `json:"replies_in"`
	RequestsOut      uint64 `json:"requests_out"`
	RepliesOut       uint64 `json:"replies_out"`
	Malformed        uint64 `json:"malformed"`         // truncated or a bad op
	Unsupported      uint64 `json:"unsupported"`       // not Ethernet/IPv4 ARP
	OffLink          uint64 `json:"off_link"`          // sender outside our prefix: not learned
	AddressConflicts uint64 `json:"address_conflicts"` // someone else claims our address
	ResolutionFailed uint64 `json:"resolution_failed"` // packets given up on after the retries
	QueueDrops       uint64 `json:"queue_drops"`       // packets dropped from a full resolution queue
}

// IPv4Stats follows the IP group of RFC 4293 (ipSystemStats).
type IPv4Stats struct {
	InReceives      uint64 `json:"in_receives"`
	InDelivers      uint64 `json:"in_delivers"`
	InTruncated     uint64 `json:"in_truncated"`
	InBadVersion    uint64 `json:"in_bad_version"`
	InBadHeaderLen  uint64 `json:"in_bad_header_len"`
	InBadTotalLen   uint64 `json:"in_bad_total_len"`
	InCsumErrors    uint64 `json:"in_csum_errors"`
	InBadOptions    uint64 `json:"in_bad_options"`
	InBadSource     uint64 `json:"in_bad_source"`     // martian source: broadcast, multicast, loopback, ours
	InAddrErrors    uint64 `json:"in_addr_errors"`    // not addressed to us (we do not forward)
	InMulticast     uint64 `json:"in_multicast"`      // multicast: no groups joined
	InUnknownProtos uint64 `json:"in_unknown_protos"` // answered with ICMP 3/2
	InSourceRouted  uint64 `json:"in_source_routed"`  // LSRR/SSRR: dropped, as Linux accept_source_route=0
	OutRequests     uint64 `json:"out_requests"`
	OutNoRoutes     uint64 `json:"out_no_routes"`
	OutDiscards     uint64 `json:"out_discards"`
	FragCreates     uint64 `json:"frag_creates"`
	FragOKs         uint64 `json:"frag_oks"`
	FragFails       uint64 `json:"frag_fails"` // DF set and too big
	ReasmReqds      uint64 `json:"reasm_reqds"`
	ReasmOKs        uint64 `json:"reasm_oks"`
	ReasmFails      uint64 `json:"reasm_fails"`
	ReasmDuplicates uint64 `json:"reasm_duplicates"`
	ReasmOverlaps   uint64 `json:"reasm_overlaps"`
	ReasmTimeouts   uint64 `json:"reasm_timeouts"`
	ReasmNoMemory   uint64 `json:"reasm_no_memory"`
}

// ICMPStats follows the ICMP group of RFC 4293 (icmpStatsTable/icmpMsgStats).
type ICMPStats struct {
	InMsgs             uint64 `json:"in_msgs"`
	InErrors           uint64 `json:"in_errors"` // truncated or bad checksum
	InEchos            uint64 `json:"in_echos"`
	InEchoReps         uint64 `json:"in_echo_reps"`
	InDestUnreachs     uint64 `json:"in_dest_unreachs"`
	InTimeExcds        uint64 `json:"in_time_excds"`
	InOther            uint64 `json:"in_other"`
	InBroadcastEchos   uint64 `json:"in_broadcast_echos"` // ignored, as Linux icmp_echo_ignore_broadcasts=1
	InErrorsUnmatched  uint64 `json:"in_errors_unmatched"`
	OutMsgs            uint64 `json:"out_msgs"`
	OutEchos           uint64 `json:"out_echos"`
	OutEchoReps        uint64 `json:"out_echo_reps"`
	OutDestUnreachs    uint64 `json:"out_dest_unreachs"`
	OutTimeExcds       uint64 `json:"out_time_excds"`
	OutParmProbs       uint64 `json:"out_parm_probs"`
	InTimestamps       uint64 `json:"in_timestamps"`
	OutTimestampReps   uint64 `json:"out_timestamp_reps"`
	OutErrorsSuppressd uint64 `json:"out_errors_suppressed"` // RFC 1122 §3.2.2 forbids an error here
	// OutRateLimited is Linux's IcmpOutRateLimitGlobal (the global
	// bucket, Config.ICMPErrorRate); OutRateLimitHost its
	// IcmpOutRateLimitHost (the destination's, Config.ICMPErrorInterval).
	OutRateLimited   uint64 `json:"out_rate_limited"`
	OutRateLimitHost uint64 `json:"out_rate_limit_host"`
}

// UDPStats follows the UDP group of RFC 4113.
type UDPStats struct {
	InDatagrams uint64 `json:"in_datagrams"`
	NoPorts     uint64 `json:"no_ports"`
	// IgnoredMulti: a broadcast or multicast datagram no socket takes
	// (Linux's UdpIgnoredMulti; no port unreachable is sent for it).
	IgnoredMulti uint64 `json:"ignored_multi"`
	InErrors     uint64 `json:"in_errors"` // malformed
	InCsumErrors uint64 `json:"in_csum_errors"`
	RcvbufErrors uint64 `json:"rcvbuf_errors"`
	OutDatagrams uint64 `json:"out_datagrams"`
}

// TCPStats follows the TCP group of RFC 4022 (and Linux's TcpExt where noted).
type TCPStats struct {
	ActiveOpens  uint64 `json:"active_opens"`
	PassiveOpens uint64 `json:"passive_opens"`
	AttemptFails uint64 `json:"attempt_fails"`
	EstabResets  uint64 `json:"estab_resets"`
	CurrEstab    uint64 `json:"curr_estab"`
	InSegs       uint64 `json:"in_segs"`
	OutSegs      uint64 `json:"out_segs"`
	InErrs       uint64 `json:"in_errs"` // malformed, or sent to a broadcast address
	InCsumErrors uint64 `json:"in_csum_errors"`
	OutRsts      uint64 `json:"out_rsts"`
	// TimeWait is a gauge: the connections in TIME-WAIT now (Linux's
	// "tw" in /proc/net/sockstat). TimeWaitReused counts those a new SYN
	// reopened (RFC 6191 §2, RFC 1122 §4.2.2.13).
	TimeWait       uint64 `json:"time_wait"`
	TimeWaitReused uint64 `json:"time_wait_reused"`
	// RFC 5961 and RFC 7323 §5 defences, totals over all connections.
	ChallengeACKs   uint64 `json:"challenge_acks"`
	ACKsRateLimited uint64 `json:"acks_rate_limited"`
	PAWSDrops       uint64 `json:"paws_drops"`
	// ConnLimitDrops counts SYNs and cookie ACKs dropped, and connects
	// refused (ENOBUFS), because Config.MaxConnections was reached.
	ConnLimitDrops uint64 `json:"conn_limit_drops"`
	// ICMPErrors counts ICMP errors about one of our segments that matched
	// a connection and passed RFC 5927 §4.1 validation.
	ICMPErrors uint64 `json:"icmp_errors"`
	// OutOfWindowICMPs counts ICMP errors that matched a connection but
	// quoted a sequence number outside SND.UNA..SND.NXT (RFC 5927 §4.1;
	// Linux's TcpExt OutOfWindowIcmps).
	OutOfWindowICMPs uint64 `json:"out_of_window_icmps"`
	// SYN cookies (RFC 4987 §3.6), as Linux's TcpExt counters: SYN-ACKs
	// sent with a cookie, ACKs whose cookie checked out, ACKs checked that
	// failed (answered with a RST).
	SynCookiesSent   uint64 `json:"syncookies_sent"`
	SynCookiesRecv   uint64 `json:"syncookies_recv"`
	SynCookiesFailed uint64 `json:"syncookies_failed"`
	// ListenOverflows counts SYNs and completing ACKs dropped because a
	// listener's accept queue was full; ListenDrops every SYN or
	// completing ACK a listener dropped (overflows included), as Linux.
	ListenOverflows uint64 `json:"listen_overflows"`
	ListenDrops     uint64 `json:"listen_drops"`
	// OutOfOrderDrops counts segments whose out-of-order data was not kept
	// (range, byte or memory limit; TcpExt TCPOFODrop); RecvQueueDrops
	// those whose in-order data was not (all) kept because the receive
	// ring could not grow (TCPRcvQDrop).
	OutOfOrderDrops uint64 `json:"ofo_drops"`
	RecvQueueDrops  uint64 `json:"rcvq_drops"`
	// MemLimitDrops counts SYNs and cookie ACKs dropped, and connects
	// refused (ENOBUFS), because TCP memory reached Config.TCPMemoryLimit.
	MemLimitDrops uint64 `json:"mem_limit_drops"`
	// TCP ring memory (buffer.Memory; Linux's sockstat "TCP: mem" and
	// TcpExt TCPMemoryPressures): bytes allocated now, 1 while under
	// pressure, times pressure began, writes cut short by it. Flat numbers,
	// like every other /stats field.
	MemUsedBytes     uint64 `json:"mem_used_bytes"`
	MemUnderPressure uint64 `json:"mem_under_pressure"`
	MemPressures     uint64 `json:"mem_pressures"`
	MemSendLimited   uint64 `json:"mem_send_limited"`
	// Loss recovery, totals over all connections: segments retransmitted
	// (RFC 4022 tcpRetransSegs), retransmission timeouts with data
	// outstanding (TcpExt TCPTimeouts), fast recoveries entered
	// (TCPSackRecovery + TCPRenoRecovery), tail loss probes sent
	// (TCPLossProbes).
	RetransSegs uint64 `json:"retrans_segs"`
	Timeouts    uint64 `json:"timeouts"`
	Recoveries  uint64 `json:"recoveries"`
	LossProbes  uint64 `json:"loss_probes"`
	// FastRetrans counts the retransmissions sent in fast recovery (TcpExt
	// TCPFastRetrans; retrans_segs also counts those after an RTO and the
	// loss probes). Recoveries by kind: SACKRecoveries (RFC 6675, TcpExt
	// TCPSackRecovery) and RenoRecoveries (RFC 6582 NewReno, without SACK;
	// TCPRenoRecovery) add up to Recoveries; RACKRecoveries counts the SACK
	// recoveries RACK's time-based rule started (RFC 8985 §6.2), and
	// TLPRecoveries the losses a tail loss probe repaired without a
	// recovery (§7.4, TCPLossProbeRecovery).
	FastRetrans    uint64 `json:"fast_retrans"`
	SACKRecoveries uint64 `json:"sack_recoveries"`
	RenoRecoveries uint64 `json:"reno_recoveries"`
	RACKRecoveries uint64 `json:"rack_recoveries"`
	TLPRecoveries  uint64 `json:"tlp_recoveries"`
	// SACKDiscards counts SACK blocks ignored as invalid (TcpExt
	// TCPSACKDiscard): empty, beyond SND.NXT, or reaching down to SND.UNA.
	// The segment carrying them is processed; only the block is not.
	SACKDiscards uint64 `json:"sack_discards"`
	// DSACKUndos counts fast recoveries undone because D-SACKs showed
	// every retransmission of them to be a duplicate (TcpExt TCPDSACKUndo).
	DSACKUndos uint64 `json:"dsack_undos"`
	// SpuriousRTOs counts timeouts undone by Eifel detection (RFC 3522;
	// Linux's TCPSpuriousRTOs).
	SpuriousRTOs uint64 `json:"spurious_rtos"`
	// ECN (RFC 3168), totals over all connections that negotiated it:
	// segments received CE-marked (Linux's IpExtInCEPkts counts every IP
	// packet), ACKs received with ECE, congestion window
	// reductions for them (at most one per window of data), segments sent
	// with ECE (echoing a CE until the peer's CWR) and with CWR.
	CEReceived    uint64 `json:"ecn_ce_received"`
	ECEReceived   uint64 `json:"ecn_ece_received"`
	ECNReductions uint64 `json:"ecn_cwnd_reductions"`
	ECESent       uint64 `json:"ecn_ece_sent"`
	CWRSent       uint64 `json:"ecn_cwr_sent"`
}

// Drops is the total of the drop counters: received frames, datagrams and
// segments dropped at any layer (each counted once: in_csum_errors within
// in_errs, overlaps, no-memory and timeouts within reasm_fails, overflows
// within listen_drops), datagrams the stack could not send (no route, a
// full ARP or loopback queue, too big with DF, refused by the device), and
// segments whose data TCP did not keep. ConnLimitDrops and MemLimitDrops
// also count refused connects. These are the reasons the debug log gives.
func (s Stats) Drops() uint64 {
	l, a, ip, ic, u, t := s.Link, s.ARP, s.IPv4, s.ICMP, s.UDP, s.TCP
	return l.Malformed + l.NotForUs + l.UnknownEtherType + l.UnknownVersion + l.WriteErrors +
		a.Malformed + a.Unsupported + a.ResolutionFailed + a.QueueDrops +
		ip.InTruncated + ip.InBadVersion + ip.InBadHeaderLen + ip.InBadTotalLen + ip.InCsumErrors +
		ip.InBadOptions + ip.InBadSource + ip.InAddrErrors + ip.InMulticast + ip.InUnknownProtos +
		ip.InSourceRouted + ip.OutNoRoutes + ip.OutDiscards + ip.FragFails + ip.ReasmFails + ip.ReasmDuplicates +
		ic.InErrors + ic.InBroadcastEchos + ic.InErrorsUnmatched +
		u.InErrors + u.InCsumErrors + u.NoPorts + u.IgnoredMulti + u.RcvbufErrors +
		t.InErrs + t.ConnLimitDrops + t.MemLimitDrops + t.PAWSDrops + t.ListenDrops + t.SynCookiesFailed +
		t.OutOfOrderDrops + t.RecvQueueDrops + t.OutOfWindowICMPs +
		s.IPv6.drops() + s.ND6.drops()
}

// drops is the total of the IPv6 drop counters.
func (v IPv6Stats) drops() uint64 {
	return v.InTruncated + v.InBadVersion + v.InBadPayloadLen + v.InBadSource + v.InAddrErrors +
		v.InHdrErrors + v.InUnknownProtos + v.ReasmFails + v.ReasmDuplicates + v.ReasmDiscarded + v.FragFails + v.OutNoRoutes + v.OutDiscards + v.ICMP6InErrors + v.ICMP6InBadND + v.ICMP6NDNotOurs +
		v.ICMP6InErrorsUnmatched
}

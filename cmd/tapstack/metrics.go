package main

import (
	"fmt"
	"io"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// A stat is one field of stack.Stats: its /stats key ("tcp.retrans_segs"),
// value and kind.
type stat struct {
	section, name string // the JSON keys of the layer and of the field
	value         uint64
	gauge         bool
}

// gaugeStats are the fields of stack.Stats that are levels, not totals:
// they go down as well as up.
var gaugeStats = map[string]bool{
	"tcp.curr_estab":         true, // RFC 4022 tcpCurrEstab: a gauge in the MIB too
	"tcp.time_wait":          true,
	"tcp.mem_used_bytes":     true,
	"tcp.mem_under_pressure": true,
}

// nstatNames names the fields that have an equivalent in Linux's SNMP and
// netstat counters by the name nstat prints and node_exporter's netstat
// collector exports (node_netstat_Tcp_RetransSegs): group, underscore,
// counter. /metrics serves them as tapstack_netstat_<name>, so dashboards
// and alerts written for node_exporter carry over. Where Linux counts
// something else under a similar name (IpExtInCEPkts counts IP packets,
// our ecn_ce_received TCP segments), the field keeps a tapstack_ name.
var nstatNames = map[string]string{
	"ipv4.in_receives":       "Ip_InReceives",
	"ipv4.in_delivers":       "Ip_InDelivers",
	"ipv4.in_addr_errors":    "Ip_InAddrErrors",
	"ipv4.in_unknown_protos": "Ip_InUnknownProtos",
	"ipv4.out_requests":      "Ip_OutRequests",
	"ipv4.out_no_routes":     "Ip_OutNoRoutes",
	"ipv4.out_discards":      "Ip_OutDiscards",
	"ipv4.frag_creates":      "Ip_FragCreates",
	"ipv4.frag_oks":          "Ip_FragOKs",
	"ipv4.frag_fails":        "Ip_FragFails",
	"ipv4.reasm_reqds":       "Ip_ReasmReqds",
	"ipv4.reasm_oks":         "Ip_ReasmOKs",
	"ipv4.reasm_fails":       "Ip_ReasmFails",
	"ipv4.reasm_timeouts":    "Ip_ReasmTimeout",
	"ipv4.in_csum_errors":    "IpExt_InCsumErrors",

	// IPv6 (issue 12): /proc/net/snmp6 names, which node_exporter splits
	// the same way (Ip6InReceives as Ip6_InReceives). Drop counters whose
	// scope differs from Linux's (in_truncated, in_hdr_errors,
	// reasm_fails) keep tapstack_ names.
	"ipv6.in_receives":                "Ip6_InReceives",
	"ipv6.in_delivers":                "Ip6_InDelivers",
	"ipv6.in_addr_errors":             "Ip6_InAddrErrors",
	"ipv6.in_unknown_protos":          "Ip6_InUnknownProtos",
	"ipv6.out_requests":               "Ip6_OutRequests",
	"ipv6.icmp6_in_msgs":              "Icmp6_InMsgs",
	"ipv6.icmp6_in_errors":            "Icmp6_InErrors",
	"ipv6.icmp6_in_echos":             "Icmp6_InEchos",
	"ipv6.icmp6_in_echo_reps":         "Icmp6_InEchoReplies",
	"ipv6.icmp6_out_echos":            "Icmp6_OutEchos",
	"ipv6.icmp6_in_neighbor_solicits": "Icmp6_InNeighborSolicits",
	"ipv6.icmp6_out_msgs":             "Icmp6_OutMsgs",
	"ipv6.icmp6_out_echo_reps":        "Icmp6_OutEchoReplies",
	"ipv6.icmp6_out_neighbor_adverts": "Icmp6_OutNeighborAdvertisements",
	"ipv6.reasm_reqds":                "Ip6_ReasmReqds",
	"ipv6.reasm_oks":                  "Ip6_ReasmOKs",
	"ipv6.reasm_timeout":              "Ip6_ReasmTimeout",
	"ipv6.reasm_overlaps":             "Ip6_ReasmOverlaps",
	"ipv6.frag_oks":                   "Ip6_FragOKs",
	"ipv6.frag_creates":               "Ip6_FragCreates",
	"ipv6.frag_fails":                 "Ip6_FragFails",
	"ipv6.icmp6_in_pkt_too_bigs":      "Icmp6_InPktTooBigs",
	"ipv6.icmp6_out_dest_unreachs":    "Icmp6_OutDestUnreachs",
	"ipv6.icmp6_out_pkt_too_bigs":     "Icmp6_OutPktTooBigs",
	"ipv6.icmp6_out_time_excds":       "Icmp6_OutTimeExcds",
	"ipv6.icmp6_out_parm_problems":    "Icmp6_OutParmProblems",
	"ipv6.icmp6_out_rate_limit_host":  "Icmp6_OutRateLimitHost",
	// Neighbour and router discovery and MLD (the nd6 layer).
	"nd6.icmp6_in_neighbor_adverts":       "Icmp6_InNeighborAdvertisements",
	"nd6.icmp6_out_neighbor_solicits":     "Icmp6_OutNeighborSolicits",
	"nd6.icmp6_in_router_adverts":         "Icmp6_InRouterAdvertisements",
	"nd6.icmp6_out_router_solicits":       "Icmp6_OutRouterSolicits",
	"nd6.icmp6_in_redirects":              "Icmp6_InRedirects",
	"nd6.icmp6_in_mld_queries":            "Icmp6_InGroupMembQueries",
	"nd6.icmp6_out_mldv2_reports":         "Icmp6_OutMLDv2Reports",
	"nd6.icmp6_out_group_memb_responses":  "Icmp6_OutGroupMembResponses",
	"nd6.icmp6_out_group_memb_reductions": "Icmp6_OutGroupMembReductions",

	"icmp.in_msgs":             "Icmp_InMsgs",
	"icmp.in_errors":           "Icmp_InErrors",
	"icmp.in_echos":            "Icmp_InEchos",
	"icmp.in_echo_reps":        "Icmp_InEchoReps",
	"icmp.in_dest_unreachs":    "Icmp_InDestUnreachs",
	"icmp.in_time_excds":       "Icmp_InTimeExcds",
	"icmp.out_msgs":            "Icmp_OutMsgs",
	"icmp.out_echos":           "Icmp_OutEchos",
	"icmp.out_echo_reps":       "Icmp_OutEchoReps",
	"icmp.out_dest_unreachs":   "Icmp_OutDestUnreachs",
	"icmp.out_time_excds":      "Icmp_OutTimeExcds",
	"icmp.out_parm_probs":      "Icmp_OutParmProbs",
	"icmp.in_timestamps":       "Icmp_InTimestamps",
	"icmp.out_timestamp_reps":  "Icmp_OutTimestampReps",
	"icmp.out_rate_limited":    "Icmp_OutRateLimitGlobal",
	"icmp.out_rate_limit_host": "Icmp_OutRateLimitHost",

	"udp.in_datagrams":   "Udp_InDatagrams",
	"udp.no_ports":       "Udp_NoPorts",
	"udp.ignored_multi":  "Udp_IgnoredMulti",
	"udp.in_errors":      "Udp_InErrors",
	"udp.in_csum_errors": "Udp_InCsumErrors",
	"udp.rcvbuf_errors":  "Udp_RcvbufErrors",
	"udp.out_datagrams":  "Udp_OutDatagrams",

	"tcp.active_opens":        "Tcp_ActiveOpens",
	"tcp.passive_opens":       "Tcp_PassiveOpens",
	"tcp.attempt_fails":       "Tcp_AttemptFails",
	"tcp.estab_resets":        "Tcp_EstabResets",
	"tcp.curr_estab":          "Tcp_CurrEstab",
	"tcp.in_segs":             "Tcp_InSegs",
	"tcp.out_segs":            "Tcp_OutSegs",
	"tcp.retrans_segs":        "Tcp_RetransSegs",
	"tcp.in_errs":             "Tcp_InErrs",
	"tcp.in_csum_errors":      "Tcp_InCsumErrors",
	"tcp.out_rsts":            "Tcp_OutRsts",
	"tcp.challenge_acks":      "TcpExt_TCPChallengeACK",
	"tcp.paws_drops":          "TcpExt_PAWSEstab",
	"tcp.out_of_window_icmps": "TcpExt_OutOfWindowIcmps",
	"tcp.syncookies_sent":     "TcpExt_SyncookiesSent",
	"tcp.syncookies_recv":     "TcpExt_SyncookiesRecv",
	"tcp.syncookies_failed":   "TcpExt_SyncookiesFailed",
	"tcp.listen_overflows":    "TcpExt_ListenOverflows",
	"tcp.listen_drops":        "TcpExt_ListenDrops",
	"tcp.ofo_drops":           "TcpExt_TCPOFODrop",
	"tcp.rcvq_drops":          "TcpExt_TCPRcvQDrop",
	"tcp.mem_pressures":       "TcpExt_TCPMemoryPressures",
	"tcp.timeouts":            "TcpExt_TCPTimeouts",
	"tcp.loss_probes":         "TcpExt_TCPLossProbes",
	"tcp.tlp_recoveries":      "TcpExt_TCPLossProbeRecovery",
	"tcp.fast_retrans":        "TcpExt_TCPFastRetrans",
	"tcp.sack_recoveries":     "TcpExt_TCPSackRecovery",
	"tcp.reno_recoveries":     "TcpExt_TCPRenoRecovery",
	"tcp.sack_discards":       "TcpExt_TCPSACKDiscard",
	"tcp.dsack_undos":         "TcpExt_TCPDSACKUndo",
	"tcp.spurious_rtos":       "TcpExt_TCPSpuriousRTOs",
}

// ownNames name the fields whose /stats key would make a poor metric name
// (promtool reads "_us" as microseconds).
var ownNames = map[string]string{
	"link.not_for_us": "tapstack_link_frames_not_ours_total",
}

// flatten lists every field of st, layer by layer, in declaration order.
// Reflection keeps /metrics and /stats's sections complete: a counter added
// to stack.Stats appears in both without an edit here.
func flatten(st stack.Stats) []stat {
	var out []stat
	v := reflect.ValueOf(st)
	for i := range v.NumField() {
		section := jsonName(v.Type().Field(i))
		layer := v.Field(i)
		for j := range layer.NumField() {
			name := jsonName(layer.Type().Field(j))
			out = append(out, stat{section: section, name: name, value: layer.Field(j).Uint(),
				gauge: gaugeStats[section+"."+name]})
		}
	}
	return out
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// metricName is the Prometheus name of s: the nstat name where there is
// one, else tapstack_<layer>_<field>, with _total for a counter
// (Prometheus's naming convention, which the nstat names predate).
func (s stat) metricName() string {
	if n, ok := nstatNames[s.section+"."+s.name]; ok {
		return "tapstack_netstat_" + n
	}
	if n, ok := ownNames[s.section+"."+s.name]; ok {
		return n
	}
	n := "tapstack_" + s.section + "_" + s.name
	if !s.gauge {
		n += "_total"
	}
	return n
}

func (s stat) help() string {
	kind := "Total"
	if s.gauge {
		kind = "Level"
	}
	h := fmt.Sprintf("%s %s.%s of /stats", kind, s.section, s.name)
	if n, ok := nstatNames[s.section+"."+s.name]; ok {
		h += fmt.Sprintf(" (Linux nstat %s)", strings.Replace(n, "_", "", 1))
	}
	return h + "."
}

// writeMetrics writes every counter and gauge in the Prometheus text
// exposition format, version 0.0.4: a HELP and a TYPE line per family,
// then its samples.
func writeMetrics(w io.Writer, st *stack.Stack, started time.Time) {
	family := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	stats := st.Stats()
	for _, s := range flatten(stats) {
		typ := "counter"
		if s.gauge {
			typ = "gauge"
		}
		family(s.metricName(), typ, s.help())
		fmt.Fprintf(w, "%s %d\n", s.metricName(), s.value)
	}
	family("tapstack_drops_total", "counter", "Total of every drop counter (received frames, datagrams and segments dropped, datagrams not sent).")
	fmt.Fprintf(w, "tapstack_drops_total %d\n", stats.Drops())

	table := st.TCPTable(stack.TCPQuery{})
	family("tapstack_tcp_connections", "gauge", "TCP connections in the table by state, TIME-WAIT included.")
	for s := tcp.StateSynSent; s <= tcp.StateTimeWait; s++ {
		fmt.Fprintf(w, "tapstack_tcp_connections{state=%q} %d\n", s.String(), table.ByState[s])
	}
	ls := st.TCPListeners()
	family("tapstack_tcp_listeners", "gauge", "Listening TCP sockets.")
	fmt.Fprintf(w, "tapstack_tcp_listeners %d\n", len(ls))
	pending := 0
	for _, l := range ls {
		pending += l.Pending
	}
	family("tapstack_tcp_accept_queue_connections", "gauge", "Connections waiting in the listeners' accept queues.")
	fmt.Fprintf(w, "tapstack_tcp_accept_queue_connections %d\n", pending)
	us := st.UDPEndpoints()
	queued := 0
	for _, u := range us {
		queued += u.Bytes
	}
	family("tapstack_udp_sockets", "gauge", "Bound UDP sockets.")
	fmt.Fprintf(w, "tapstack_udp_sockets %d\n", len(us))
	family("tapstack_udp_queued_bytes", "gauge", "Bytes waiting to be read in the UDP sockets' receive queues.")
	fmt.Fprintf(w, "tapstack_udp_queued_bytes %d\n", queued)

	family("tapstack_uptime_seconds", "gauge", "Seconds since the daemon started.")
	fmt.Fprintf(w, "tapstack_uptime_seconds %.3f\n", time.Since(started).Seconds())
	family("tapstack_build_info", "gauge", "Always 1: the version of the running daemon in a label.")
	fmt.Fprintf(w, "tapstack_build_info{version=%q} 1\n", buildVersion())
}

// statsV2 is GET /stats?v=2: the fields of stack.Stats split into
// counters and gauges (each by layer, then field), the uptime, the version
// and the services' connections.
//
// GET /stats itself stays stack.Stats as it always was: an object of
// layers, each an object of numbers. Clients decode it as exactly that
// (map[string]map[string]uint64, as the integration tests' stackStats), so
// a top-level key of another shape (a string, a number, a deeper object)
// would break them; the new shape has its own version instead.
type statsV2 struct {
	Counters      map[string]map[string]uint64 `json:"counters"`
	Gauges        map[string]map[string]uint64 `json:"gauges"`
	UptimeSeconds float64                      `json:"uptime_seconds"`
	Version       string                       `json:"version"`
	// Services counts each running service's connections: active,
	// accepted, refused (--max-service-conns).
	Services map[string]map[string]uint64 `json:"services,omitempty"`
}

func newStatsV2(st *stack.Stack, started time.Time) statsV2 {
	p := statsV2{Counters: map[string]map[string]uint64{}, Gauges: map[string]map[string]uint64{},
		UptimeSeconds: time.Since(started).Seconds(), Version: buildVersion()}
	stats := st.Stats()
	for _, s := range flatten(stats) {
		m := p.Counters
		if s.gauge {
			m = p.Gauges
		}
		if m[s.section] == nil {
			m[s.section] = map[string]uint64{}
		}
		m[s.section][s.name] = s.value
	}
	p.Counters["total"] = map[string]uint64{"drops": stats.Drops()}
	return p
}

// buildVersion is main.version when the build set it, else what the Go
// toolchain recorded: the module version (go install ...@v0.1.0), or the
// VCS revision of a build from a checkout ("dev+0123456789ab", with
// "-dirty" for uncommitted changes).
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return versionOf(version, bi)
}

// versionOf is buildVersion for a given main.version and build info (nil
// when the binary carries none).
func versionOf(mainVersion string, bi *debug.BuildInfo) string {
	if mainVersion != "dev" || bi == nil {
		return mainVersion
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return mainVersion
	}
	return mainVersion + "+" + rev + dirty
}

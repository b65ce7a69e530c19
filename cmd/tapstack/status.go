package main

import (
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// The status page (GET /, GET /status.json) is bounded whatever the
// connection table holds: a count of connections by state, the listeners
// and UDP sockets (a few each), and at most statusMaxRows connections, the
// most active first (stack.TCPTable), defaultStatusRows unless ?n= says.
const (
	defaultStatusRows = 50
	statusMaxRows     = 1000
)

// statusQuery is the page's filters: ?n=, ?state=, ?port=.
type statusQuery struct {
	N     int
	State tcp.State // StateClosed: any
	Port  uint16    // 0: any
}

func parseStatusQuery(v url.Values) (statusQuery, error) {
	q := statusQuery{N: defaultStatusRows}
	if s := v.Get("n"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > statusMaxRows {
			return q, fmt.Errorf("?n=%s: want 0 to %d connections", s, statusMaxRows)
		}
		q.N = n
	}
	if s := v.Get("state"); s != "" {
		st, ok := parseState(s)
		if !ok {
			return q, fmt.Errorf("?state=%s: want one of %s", s, strings.Join(stateNames(), ", "))
		}
		q.State = st
	}
	if s := v.Get("port"); s != "" {
		p, err := strconv.ParseUint(s, 10, 16)
		if err != nil || p == 0 {
			return q, fmt.Errorf("?port=%s: want a port, 1 to 65535 (local or remote)", s)
		}
		q.Port = uint16(p)
	}
	return q, nil
}

// ssStateNames are ss's names where they differ from RFC 9293's.
var ssStateNames = map[tcp.State]string{tcp.StateEstablished: "ESTAB", tcp.StateSynReceived: "SYN-RECV"}

// ssState is s as ss prints it.
func ssState(s tcp.State) string {
	if n, ok := ssStateNames[s]; ok {
		return n
	}
	return s.String()
}

// stateNames are the states a connection in the table can be in.
func stateNames() []string {
	var out []string
	for s := tcp.StateSynSent; s <= tcp.StateTimeWait; s++ {
		out = append(out, s.String())
	}
	return out
}

// parseState takes a state by its RFC 9293 name or ss's, in any case,
// with or without the hyphens ("TIME-WAIT", "time_wait", "estab").
func parseState(s string) (tcp.State, bool) {
	norm := func(s string) string {
		return strings.NewReplacer("-", "", "_", "").Replace(strings.ToUpper(s))
	}
	for st := tcp.StateSynSent; st <= tcp.StateTimeWait; st++ {
		if norm(s) == norm(st.String()) || norm(s) == norm(ssState(st)) {
			return st, true
		}
	}
	return tcp.StateClosed, false
}

// statusDoc is the status page's content: GET /status.json encodes it,
// GET / and tapstack ss print it.
type statusDoc struct {
	Version       string            `json:"version"`
	Address       string            `json:"address"`
	Prefix        string            `json:"prefix"`
	MAC           string            `json:"mac,omitempty"` // absent on a TUN (no link layer)
	MTU           int               `json:"mtu"`
	Offload       *statusOffload    `json:"offload,omitempty"` // absent on a TUN
	Routes        []statusRoute     `json:"routes"`
	UptimeSeconds float64           `json:"uptime_seconds"`
	TCP           statusTCP         `json:"tcp"`
	Listeners     []statusListener  `json:"listeners"`
	UDP           []statusUDP       `json:"udp"`
	Neighbours    []statusNeighbour `json:"neighbours"`
	// IPv6 (status6.go).
	Addrs6      []statusAddr6      `json:"ipv6_addresses"`
	Routers6    []statusRouter6    `json:"ipv6_routers"`
	Neighbours6 []statusNeighbour6 `json:"ipv6_neighbours"`
}

// statusOffload is the TAP's offload mode and what the offloads saved:
// GRO super-segments received and TSO segments sent, the segments they
// stood for and their mean size, the segments the stack cut itself for
// want of TSO (and the datagrams made), and checksums the kernel vouched
// for (stack.OffloadStats).
type statusOffload struct {
	Mode           string `json:"mode"`
	GROIn          uint64 `json:"gro_in"`
	GROSegsIn      uint64 `json:"gro_segs_in"`
	GROMeanSize    uint64 `json:"gro_mean_bytes"`
	TSOOut         uint64 `json:"tso_out"`
	TSOSegsOut     uint64 `json:"tso_segs_out"`
	TSOMeanSize    uint64 `json:"tso_mean_bytes"`
	SoftGSOOut     uint64 `json:"soft_gso_out"`
	SoftGSOSegsOut uint64 `json:"soft_gso_segs_out"`
	CsumSkipped    uint64 `json:"csum_skipped"`
}

type statusRoute struct {
	Dst     string `json:"dst"`
	Gateway string `json:"gateway,omitempty"` // absent: on-link
}

type statusTCP struct {
	Total   int            `json:"total"`    // connections in the table, TIME-WAIT included
	ByState map[string]int `json:"by_state"` // every connection, by state
	// The query (n, state, port), how many connections it matched, and
	// the first n of them, most active first.
	N           int          `json:"n"`
	State       string       `json:"state,omitempty"`
	Port        uint16       `json:"port,omitempty"`
	Matched     int          `json:"matched"`
	Connections []statusConn `json:"connections"`
}

// statusConn is a connection with ss -tin's fields. Times are in
// microseconds (rtt) or milliseconds (rto, timer), windows in bytes.
type statusConn struct {
	State         string `json:"state"`
	Local         string `json:"local"`
	Remote        string `json:"remote"`
	RecvQ         int    `json:"recv_q"`
	SendQ         int    `json:"send_q"`
	RTTUs         int64  `json:"rtt_us"`
	RTTVarUs      int64  `json:"rttvar_us"`
	RTOMs         int64  `json:"rto_ms"`
	MSS           int    `json:"mss"`
	CwndBytes     int    `json:"cwnd_bytes"`
	SsthreshBytes int    `json:"ssthresh_bytes,omitempty"` // absent before the first loss, as ss
	SndWnd        int    `json:"snd_wnd"`
	RcvWnd        int    `json:"rcv_wnd"`
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
	Retransmits   uint64 `json:"retransmits"`
	FastRetrans   uint64 `json:"fast_retrans"`
	Timeouts      uint64 `json:"timeouts"`
	LossProbes    uint64 `json:"loss_probes"`
	Timestamps    bool   `json:"ts"`
	SACK          bool   `json:"sack"`
	ECN           bool   `json:"ecn"`
	Congestion    string `json:"congestion,omitempty"`  // absent in TIME-WAIT
	PacingRate    uint64 `json:"pacing_rate,omitempty"` // bytes/s; absent while not pacing
	// WScale is the window scales, "snd,rcv" as ss prints them; absent
	// when window scaling is off.
	WScale string `json:"wscale,omitempty"`
	// Timer is the kind of the connection's next timer in ss -o's words
	// (tcp.Info.Timer: on, persist, keepalive, timewait); TimerMs is when
	// the earliest of its timers fires (a delayed ACK included).
	Timer   string `json:"timer,omitempty"`
	TimerMs int64  `json:"timer_ms,omitempty"`
}

type statusListener struct {
	Local            string `json:"local"`
	AcceptQueue      int    `json:"accept_queue"` // ss's Recv-Q
	Backlog          int    `json:"backlog"`      // ss's Send-Q
	SynReceived      uint64 `json:"syn_received"`
	AcceptQueueDrops uint64 `json:"accept_queue_drops"`
	SynQueueDrops    uint64 `json:"syn_queue_drops"`
}

type statusUDP struct {
	Local       string `json:"local"`
	Remote      string `json:"remote,omitempty"`
	QueuedBytes int    `json:"queued_bytes"` // ss's Recv-Q
	Queued      int    `json:"queued_datagrams"`
	Drops       uint64 `json:"drops"`
}

type statusNeighbour struct {
	IP    string `json:"ip"`
	MAC   string `json:"mac"`
	State string `json:"state"`
}

// status gathers the page for q.
func (d *daemon) status(q statusQuery) statusDoc {
	st := d.st
	doc := statusDoc{
		Version: buildVersion(), Address: st.Addr().String(), Prefix: st.Prefix().String(),
		MTU: st.MTU(), UptimeSeconds: time.Since(d.started).Seconds(),
	}
	if st.MAC() != (ethernet.MAC{}) {
		doc.MAC = st.MAC().String()
	}
	if d.offload != "" {
		o := st.Stats().Offload
		doc.Offload = &statusOffload{Mode: d.offload, GROIn: o.GROIn, GROSegsIn: o.GROSegsIn, CsumSkipped: o.CsumSkipped,
			TSOOut: o.TSOOut, TSOSegsOut: o.TSOSegsOut, SoftGSOOut: o.SoftGSOOut, SoftGSOSegsOut: o.SoftGSOSegsOut}
		if o.GROIn > 0 {
			doc.Offload.GROMeanSize = o.GROBytesIn / o.GROIn
		}
		if o.TSOOut > 0 {
			doc.Offload.TSOMeanSize = o.TSOBytesOut / o.TSOOut
		}
	}
	for _, rt := range st.Routes() {
		r := statusRoute{Dst: rt.Dst.String()}
		if rt.Gateway.IsValid() {
			r.Gateway = rt.Gateway.String()
		}
		doc.Routes = append(doc.Routes, r)
	}
	t := st.TCPTable(stack.TCPQuery{State: q.State, Port: q.Port, Limit: q.N})
	doc.TCP = statusTCP{ByState: map[string]int{}, N: q.N, Port: q.Port, Matched: t.Matched, Connections: []statusConn{}}
	if q.State != tcp.StateClosed {
		doc.TCP.State = q.State.String()
	}
	for s, n := range t.ByState {
		doc.TCP.ByState[s.String()] = n
		doc.TCP.Total += n
	}
	for _, c := range t.Conns {
		doc.TCP.Connections = append(doc.TCP.Connections, newStatusConn(c))
	}
	for _, l := range st.TCPListeners() {
		doc.Listeners = append(doc.Listeners, statusListener{Local: ssLocal(l.Local, l.DualStack), AcceptQueue: l.Pending, Backlog: l.Backlog,
			SynReceived: l.SynReceived, AcceptQueueDrops: l.AcceptQueueDrops, SynQueueDrops: l.SynQueueDrops})
	}
	for _, u := range st.UDPEndpoints() {
		s := statusUDP{Local: ssLocal(u.Local, u.DualStack), QueuedBytes: u.Bytes, Queued: u.Datagrams, Drops: u.Drops}
		if u.Remote.IsValid() {
			s.Remote = u.Remote.String()
		}
		doc.UDP = append(doc.UDP, s)
	}
	for _, n := range st.Neighbors() {
		doc.Neighbours = append(doc.Neighbours, statusNeighbour{IP: n.IP.String(), MAC: n.MAC.String(), State: n.State.String()})
	}
	d.status6(&doc)
	return doc
}

func newStatusConn(c stack.TCPConnInfo) statusConn {
	s := statusConn{
		State: c.State.String(), Local: c.Local.String(), Remote: c.Remote.String(), RecvQ: c.RecvQueue, SendQ: c.SendQueue,
		RTTUs: c.SRTT.Microseconds(), RTTVarUs: c.RTTVar.Microseconds(), RTOMs: c.RTO.Milliseconds(),
		MSS: c.MSS, CwndBytes: c.Cwnd, SndWnd: c.SndWnd, RcvWnd: c.RcvWnd,
		BytesSent: c.BytesSent, BytesReceived: c.BytesReceived,
		Retransmits: c.Retransmits, FastRetrans: c.FastRetrans, Timeouts: c.Timeouts, LossProbes: c.LossProbes,
		Timestamps: c.Timestamps, SACK: c.SACK, ECN: c.ECN, Congestion: c.Congestion, PacingRate: c.PacingRate,
	}
	if c.Ssthresh < tcp.InfiniteSsthresh {
		s.SsthreshBytes = c.Ssthresh
	}
	if c.WScale {
		s.WScale = strconv.Itoa(int(c.SndWScale)) + "," + strconv.Itoa(int(c.RcvWScale))
	}
	if c.Info.Timer != "" && c.Timer > 0 {
		s.Timer, s.TimerMs = c.Info.Timer, max(c.Timer.Milliseconds(), 1)
	}
	return s
}

// writeStatusText writes the status page as text.
func writeStatusText(w io.Writer, doc statusDoc) {
	fmt.Fprintf(w, "tapstack %s\n\n", doc.Version)
	if doc.MAC != "" {
		fmt.Fprintf(w, "address   %s (MAC %s, MTU %d)\n", doc.Address, doc.MAC, doc.MTU)
	} else {
		fmt.Fprintf(w, "address   %s (MTU %d)\n", doc.Address, doc.MTU)
	}
	fmt.Fprintf(w, "prefix    %s\n", doc.Prefix)
	if o := doc.Offload; o != nil {
		fmt.Fprintf(w, "offload   %s (GRO super-segments in %d, for %d segments, mean %d bytes; TSO segments out %d, for %d segments, mean %d bytes; cut in software %d, into %d; checksums skipped %d)\n",
			o.Mode, o.GROIn, o.GROSegsIn, o.GROMeanSize, o.TSOOut, o.TSOSegsOut, o.TSOMeanSize, o.SoftGSOOut, o.SoftGSOSegsOut, o.CsumSkipped)
	}
	for _, r := range doc.Routes {
		via := "on-link"
		if r.Gateway != "" {
			via = "via " + r.Gateway
		}
		fmt.Fprintf(w, "route     %s %s\n", r.Dst, via)
	}
	fmt.Fprintf(w, "uptime    %v\n\n", (time.Duration(doc.UptimeSeconds * float64(time.Second))).Round(time.Second))
	writeSummary(w, doc)
	fmt.Fprintf(w, "\nTCP listeners: %d\n", len(doc.Listeners))
	writeListeners(w, doc)
	fmt.Fprintf(w, "\nUDP sockets: %d\n", len(doc.UDP))
	writeUDP(w, doc)
	t := doc.TCP
	filter := ""
	if t.State != "" {
		filter += " state " + t.State
	}
	if t.Port != 0 {
		filter += fmt.Sprintf(" port %d", t.Port)
	}
	if filter != "" {
		filter = " in" + filter
	}
	fmt.Fprintf(w, "\nTCP connections shown: %d of %d%s, most active first (?n=%d&state=&port= choose)\n", len(t.Connections), t.Matched, filter, t.N)
	writeConns(w, doc)
	fmt.Fprintf(w, "\nneighbours:\n")
	for _, n := range doc.Neighbours {
		fmt.Fprintf(w, "  %-16s %s %s\n", n.IP, n.MAC, n.State)
	}
	writeStatus6Text(w, doc)
	fmt.Fprintf(w, "\nthis page as JSON: /status.json   counters: /stats, /metrics   bytes: /bytes/N   echo: POST /echo\n")
}

// writeSummary writes the connection count and the count by state, as
// ss -s.
func writeSummary(w io.Writer, doc statusDoc) {
	fmt.Fprintf(w, "TCP connections: %d\n", doc.TCP.Total)
	for _, s := range stateNames() {
		if n := doc.TCP.ByState[s]; n > 0 {
			fmt.Fprintf(w, "  %-12s %d\n", s, n)
		}
	}
}

const ssHeader = "State      Recv-Q Send-Q Local Address:Port     Peer Address:Port\n"

func ssRow(w io.Writer, state string, recvQ int, sendQ, local, peer string) {
	fmt.Fprintf(w, "%-10s %-6d %-6s %-22s %s\n", state, recvQ, sendQ, local, peer)
}

// ssLocal is a socket's local address as Linux's ss shows it: a dual-stack
// [::] socket (IPv4 too, issue 12) as *:port, others as they are.
func ssLocal(a netip.AddrPort, dualStack bool) string {
	if dualStack {
		return "*:" + strconv.Itoa(int(a.Port()))
	}
	return a.String()
}

// ssPeerWildcard is the peer column of an unconnected socket, as ss: *:*
// for a dual-stack one, [::]:* for IPv6, 0.0.0.0:* for IPv4.
func ssPeerWildcard(local string) string {
	switch {
	case strings.HasPrefix(local, "*:"):
		return "*:*"
	case strings.HasPrefix(local, "["):
		return "[::]:*"
	}
	return "0.0.0.0:*"
}

// writeListeners writes the listeners as ss -ltn: Recv-Q is the accept
// queue, Send-Q the backlog.
func writeListeners(w io.Writer, doc statusDoc) {
	io.WriteString(w, ssHeader)
	for _, l := range doc.Listeners {
		ssRow(w, "LISTEN", l.AcceptQueue, strconv.Itoa(l.Backlog), l.Local, ssPeerWildcard(l.Local))
	}
}

// writeUDP writes the UDP sockets as ss -uan: Recv-Q is the bytes queued.
func writeUDP(w io.Writer, doc statusDoc) {
	io.WriteString(w, ssHeader)
	for _, u := range doc.UDP {
		state, peer := "UNCONN", ssPeerWildcard(u.Local)
		if u.Remote != "" {
			state, peer = "ESTAB", u.Remote
		}
		ssRow(w, state, u.QueuedBytes, "0", u.Local, peer)
	}
}

// writeConns writes the connections as ss -tin: a row with the state,
// queues and addresses, then a tab-indented line of the TCP information.
func writeConns(w io.Writer, doc statusDoc) {
	io.WriteString(w, ssHeader)
	for _, c := range doc.TCP.Connections {
		st, _ := parseState(c.State)
		ssRow(w, ssState(st), c.RecvQ, strconv.Itoa(c.SendQ), c.Local, c.Remote)
		io.WriteString(w, "\t"+ssInfo(c)+"\n")
	}
}

// ssInfo is the line ss -i prints under a connection, in its words: ts,
// sack and ecn for the options negotiated, the congestion control, rto
// and rtt/rttvar in milliseconds, cwnd and ssthresh in segments (the
// bytes are in the JSON), the byte counts, retransmissions, the pacing
// rate in bytes per second, and the next timer (as ss -o).
func ssInfo(c statusConn) string {
	var b strings.Builder
	for _, o := range []struct {
		on   bool
		name string
	}{{c.Timestamps, "ts"}, {c.SACK, "sack"}, {c.ECN, "ecn"}} {
		if o.on {
			b.WriteString(" " + o.name)
		}
	}
	if c.WScale != "" {
		b.WriteString(" wscale:" + c.WScale)
	}
	if c.Congestion != "" {
		b.WriteString(" " + c.Congestion)
	}
	if c.State != tcp.StateTimeWait.String() {
		fmt.Fprintf(&b, " rto:%d rtt:%s/%s mss:%d", c.RTOMs, msec(c.RTTUs), msec(c.RTTVarUs), c.MSS)
		if c.MSS > 0 {
			fmt.Fprintf(&b, " cwnd:%d", c.CwndBytes/c.MSS)
			if c.SsthreshBytes > 0 {
				fmt.Fprintf(&b, " ssthresh:%d", c.SsthreshBytes/c.MSS)
			}
		}
		fmt.Fprintf(&b, " snd_wnd:%d rcv_wnd:%d", c.SndWnd, c.RcvWnd)
	}
	fmt.Fprintf(&b, " bytes_sent:%d bytes_received:%d", c.BytesSent, c.BytesReceived)
	if c.Retransmits > 0 {
		fmt.Fprintf(&b, " retrans:%d fast_retrans:%d timeouts:%d loss_probes:%d", c.Retransmits, c.FastRetrans, c.Timeouts, c.LossProbes)
	}
	if c.PacingRate > 0 {
		fmt.Fprintf(&b, " pacing_rate:%d", c.PacingRate)
	}
	if c.Timer != "" {
		fmt.Fprintf(&b, " timer:(%s,%v)", c.Timer, time.Duration(c.TimerMs)*time.Millisecond)
	}
	return strings.TrimPrefix(b.String(), " ")
}

// msec formats microseconds as ss does rtt: milliseconds, three decimals.
func msec(us int64) string {
	return strconv.FormatFloat(float64(us)/1000, 'f', 3, 64)
}

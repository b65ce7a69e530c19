package main

import (
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/ethernet"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/nic"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/tcp/seqnum"
)

// twPeer plays a client to a stack under a manual clock, the stack not
// started: it hands it crafted frames with HandleFrame (processed
// synchronously) and looks at the last frame the stack wrote, so tens of
// thousands of connections open and close quickly and deterministically.
type twPeer struct {
	t   *testing.T
	st  *stack.Stack
	dev *lastFrame
	ip  netip.Addr
	mac ethernet.MAC
	buf []byte
}

// lastFrame is a device that keeps only the last frame written to it: all
// twPeer needs (the SYN-ACK's sequence number), without a queue.
type lastFrame struct {
	link   nic.LinkKind
	last   []byte
	closed chan struct{}
	once   sync.Once
}

func (d *lastFrame) Info() nic.Info {
	if d.link == nic.LinkIP {
		return nic.Info{Name: "last", Link: nic.LinkIP, MTU: 1500, MaxFrame: 1500, Batch: 1}
	}
	return nic.Info{Name: "last", MAC: [6]byte{2, 0, 0, 0, 0, 2}, MTU: 1500, MaxFrame: 1514, Batch: 1}
}

func (d *lastFrame) Read([]nic.Frame) (int, error) {
	<-d.closed
	return 0, nic.ErrClosed
}

func (d *lastFrame) Write(fs []nic.Frame) (int, error) {
	d.last = append(d.last[:0], fs[len(fs)-1].Data...)
	return len(fs), nil
}

func (d *lastFrame) Close() error {
	d.once.Do(func() { close(d.closed) })
	return nil
}

func newTWPeer(t *testing.T) *twPeer {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	dev := &lastFrame{closed: make(chan struct{})}
	st, err := stack.New(dev, stack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := &twPeer{t: t, st: st, dev: dev, ip: netip.MustParseAddr("10.0.0.1"), mac: ethernet.MAC{2, 0, 0, 0, 0, 1}}
	// An ARP request from the peer teaches the stack its MAC (RFC 826).
	f := make([]byte, ethernet.HeaderLen+arp.HeaderLen)
	ethernet.Encode(f, st.MAC(), p.mac, ethernet.TypeARP)
	arp.Encode(f[ethernet.HeaderLen:], arp.OpRequest, p.mac, p.ip, ethernet.MAC{}, st.Addr())
	st.HandleFrame(f, nic.Meta{})
	return p
}

// send hands the stack a segment from the peer's port to port 80.
func (p *twPeer) send(port uint16, seq, ack seqnum.Value, flags tcp.Flags) {
	seg := tcp.Segment{SrcPort: port, DstPort: 80, Seq: seq, Ack: ack, Flags: flags, Window: 65535}
	const hl = ethernet.HeaderLen + ipv4.HeaderMinLen
	p.buf = append(p.buf[:0], make([]byte, hl+tcp.HeaderMaxLen)...)
	n := tcp.Encode(p.buf[hl:], &seg)
	tcp.Header(p.buf[hl:hl+n]).ComputeChecksumIPv4(p.ip, p.st.Addr())
	ethernet.Encode(p.buf, p.st.MAC(), p.mac, ethernet.TypeIPv4)
	ipv4.Encode(p.buf[ethernet.HeaderLen:], ipv4.Fields{TotalLen: ipv4.HeaderMinLen + n, TTL: 64, Protocol: ipv4.ProtoTCP, Src: p.ip, Dst: p.st.Addr()})
	p.st.HandleFrame(p.buf[:hl+n], nic.Meta{})
}

// synAck returns the ISS of the SYN-ACK the stack just sent.
func (p *twPeer) synAck() seqnum.Value {
	f := p.dev.last
	ip := f[ethernet.HeaderLen:]
	seg := ip[int(ip[0]&0xf)*4:]
	if binary.BigEndian.Uint16(f[12:]) != uint16(ethernet.TypeIPv4) || tcp.Flags(seg[13]) != tcp.FlagSYN|tcp.FlagACK {
		p.t.Fatalf("the stack's last frame is no SYN-ACK: % x", f)
	}
	return seqnum.Value(binary.BigEndian.Uint32(seg[4:]))
}

// timeWaits leaves n connections to port 80 in TIME-WAIT, each from its
// own peer port (from, from+1, ...): the stack accepts and closes first, as an HTTP
// server does after a response, and the peer answers with its FIN.
func (p *twPeer) timeWaits(from uint16, n int) {
	t := p.t
	lis, err := p.st.NewTCPEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	if _, err := lis.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), 80), true); err != nil {
		t.Fatal(err)
	}
	if err := lis.Listen(1); err != nil {
		t.Fatal(err)
	}
	const peerISS = seqnum.Value(1000)
	for i := range n {
		port := from + uint16(i)
		p.send(port, peerISS, 0, tcp.FlagSYN)
		iss := p.synAck()
		p.send(port, peerISS+1, iss+1, tcp.FlagACK)
		c, err := lis.Accept()
		if err != nil {
			t.Fatalf("accept %d: %v", i, err)
		}
		c.Close() // our FIN, iss+1
		p.send(port, peerISS+1, iss+2, tcp.FlagFIN|tcp.FlagACK)
		// Our ACK of it: TIME-WAIT.
	}
}

// TestStatusPage_BoundedUnderSixtyThousandTimeWaits: after 60,000
// connections closed by the server, the status page and its JSON twin
// stay small (50 rows) and their summary counts every TIME-WAIT entry.
func TestStatusPage_BoundedUnderSixtyThousandTimeWaits(t *testing.T) {
	const n = 60000
	p := newTWPeer(t)
	p.timeWaits(1024, n)
	d := testDaemon(p.st)
	h := d.httpHandler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	page := rec.Body.String()
	if len(page) >= 64<<10 {
		t.Fatalf("status page is %d bytes, want < 64 KiB", len(page))
	}
	for _, want := range []string{"TCP connections: " + strconv.Itoa(n) + "\n", "  TIME-WAIT    " + strconv.Itoa(n) + "\n", "TCP connections shown: 50 of 60000"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q:\n%s", want, page)
		}
	}
	if rows := strings.Count(page, "\nTIME-WAIT "); rows != defaultStatusRows {
		t.Errorf("%d TIME-WAIT rows, want %d", rows, defaultStatusRows)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/status.json", nil))
	if rec.Body.Len() >= 64<<10 {
		t.Fatalf("/status.json is %d bytes, want < 64 KiB", rec.Body.Len())
	}
	t.Logf("%d connections in TIME-WAIT: the status page is %d bytes, /status.json %d", n, len(page), rec.Body.Len())
	var doc statusDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.TCP.Total != n || doc.TCP.ByState["TIME-WAIT"] != n || len(doc.TCP.Connections) != defaultStatusRows {
		t.Fatalf("/status.json: total %d, by state %v, %d rows; want %d, all TIME-WAIT, %d rows",
			doc.TCP.Total, doc.TCP.ByState, len(doc.TCP.Connections), n, defaultStatusRows)
	}
}

// TestStatusPage_FiltersAndJSONByAccept: ?n=, ?state= (RFC or ss names)
// and ?port= choose the rows; a bad value is a 400 with one line; a
// request that accepts application/json gets the JSON twin at /.
func TestStatusPage_FiltersAndJSONByAccept(t *testing.T) {
	p := newTWPeer(t)
	p.timeWaits(1024, 4)
	h := testDaemon(p.st).httpHandler()
	doc := func(url string, accept bool) (int, statusDoc, string) {
		t.Helper()
		req := httptest.NewRequest("GET", url, nil)
		if accept {
			req.Header.Set("Accept", "text/html;q=0.9, application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var d statusDoc
		if rec.Code == 200 {
			if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
				t.Fatalf("%s: %v\n%s", url, err, rec.Body)
			}
		}
		return rec.Code, d, rec.Body.String()
	}
	for _, tc := range []struct {
		url           string
		matched, rows int
	}{
		{"/status.json?n=2", 4, 2},
		{"/status.json?state=time_wait", 4, 4},
		{"/status.json?state=ESTAB", 0, 0},
		{"/status.json?port=1026", 1, 1},
		{"/status.json?port=80&n=0", 4, 0},
	} {
		code, d, body := doc(tc.url, false)
		if code != 200 || d.TCP.Matched != tc.matched || len(d.TCP.Connections) != tc.rows || d.TCP.Total != 4 {
			t.Errorf("%s: %d, total %d, matched %d, %d rows; want 200, 4, %d, %d\n%s", tc.url, code, d.TCP.Total, d.TCP.Matched, len(d.TCP.Connections), tc.matched, tc.rows, body)
		}
	}
	if _, d, body := doc("/status.json?port=1026", false); len(d.TCP.Connections) != 1 || d.TCP.Connections[0].Remote != "10.0.0.1:1026" {
		t.Errorf("?port=1026 row: %s", body)
	}
	if code, d, _ := doc("/?n=1", true); code != 200 || len(d.TCP.Connections) != 1 || d.TCP.Total != 4 {
		t.Errorf("GET / accepting JSON: %d, %+v", code, d.TCP)
	}
	for _, url := range []string{"/?n=1001", "/?n=x", "/status.json?state=open", "/?port=0", "/?port=70000"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
		if rec.Code != 400 || strings.Count(rec.Body.String(), "\n") != 1 {
			t.Errorf("%s: %d %q, want 400 and one line", url, rec.Code, rec.Body)
		}
	}
}

// TestStatusPage_NoMACOnAnIPLink: on a link without Ethernet (a TUN) the
// page names no MAC, and its JSON has none.
func TestStatusPage_NoMACOnAnIPLink(t *testing.T) {
	dev := &lastFrame{link: nic.LinkIP, closed: make(chan struct{})}
	st, err := stack.New(dev, stack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := testDaemon(st).httpHandler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !strings.Contains(rec.Body.String(), "\naddress   10.0.0.2 (MTU 1500)\n") {
		t.Errorf("status page on an IP link:\n%s", rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/status.json", nil))
	if strings.Contains(rec.Body.String(), `"mac"`) {
		t.Errorf("/status.json on an IP link names a MAC:\n%s", rec.Body)
	}
}

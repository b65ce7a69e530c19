package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tapstack/tapstack/socket"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// serveTCP accepts connections on port and runs handle on each in its own
// goroutine (the stack itself has none per connection; a server may).
func serveTCP(st *stack.Stack, port int, log *slog.Logger, name string, handle func(net.Conn)) (io.Closer, error) {
	l, err := socket.Listen(st, "tcp4", ":"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					log.Warn(name+": accept", "err", err)
				}
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return l, nil
}

// echo (RFC 862): writes back what it reads; closes after the peer's FIN.
func echo(c net.Conn) {
	io.Copy(c, c) // the Conn's WriteTo: no buffer held while idle
}

// discard (RFC 863): reads and drops.
func discard(c net.Conn) {
	io.Copy(io.Discard, c) // the Conn's WriteTo: no buffer held while idle
}

// chargenPattern is RFC 864's: 72-character lines of the 95 printable ASCII
// characters, each line starting one character later than the one before.
var chargenPattern = func() []byte {
	var b []byte
	for line := 0; line < 95; line++ {
		for i := 0; i < 72; i++ {
			b = append(b, byte(' '+(line+i)%95))
		}
		b = append(b, '\r', '\n')
	}
	return b
}()

// chargen (RFC 864): writes the pattern until the peer goes away.
func chargen(c net.Conn) {
	// Reading detects the peer's close; anything it sends is discarded.
	go io.Copy(io.Discard, c)
	buf := make([]byte, 0, 64<<10+len(chargenPattern))
	for len(buf) < 64<<10 {
		buf = append(buf, chargenPattern...)
	}
	for {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// bytesPattern is what GET /bytes/N sends, 64 KiB at a time: shared and
// never written, so a response that waits on a stalled peer holds no buffer
// of its own.
var bytesPattern = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// httpHandler serves tcp/80: the status page, counters, bytes and echo.
func httpHandler(st *stack.Stack, started time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "tapstack %s\n\n", version)
		fmt.Fprintf(w, "address   %v (MAC %v, MTU %d)\n", st.Addr(), st.MAC(), st.MTU())
		fmt.Fprintf(w, "prefix    %v\n", st.Prefix())
		for _, rt := range st.Routes() {
			via := "on-link"
			if rt.Gateway.IsValid() {
				via = "via " + rt.Gateway.String()
			}
			fmt.Fprintf(w, "route     %v %s\n", rt.Dst, via)
		}
		fmt.Fprintf(w, "uptime    %v\n\n", time.Since(started).Round(time.Second))
		conns := st.TCPConnections()
		sort.Slice(conns, func(i, j int) bool {
			if conns[i].Local != conns[j].Local {
				return conns[i].Local.String() < conns[j].Local.String()
			}
			return conns[i].Remote.String() < conns[j].Remote.String()
		})
		fmt.Fprintf(w, "TCP connections: %d\n", len(conns))
		writeTCPTable(w, conns)
		fmt.Fprintf(w, "\nneighbours:\n")
		for _, n := range st.Neighbors() {
			fmt.Fprintf(w, "  %-16v %v %v\n", n.IP, n.MAC, n.State)
		}
		fmt.Fprintf(w, "\ncounters: /stats   bytes: /bytes/N   echo: POST /echo\n")
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(st.Stats())
	})
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			http.Error(w, "want /bytes/N with 0 <= N <= 2^40", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		for n > 0 {
			k := min(n, int64(len(bytesPattern)))
			if _, err := w.Write(bytesPattern[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		// Stream the body back while it arrives (HTTP/1.1 full duplex), so
		// a large upload needs no buffering here.
		http.NewResponseController(w).EnableFullDuplex()
		if ct := r.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		if r.ContentLength >= 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
		}
		buf := make([]byte, 64<<10)
		io.CopyBuffer(w, r.Body, buf)
	})
	return mux
}

// tcpTableHeader names the status page's connection columns: as Linux's
// ss -ti, the congestion control, window and RTT estimate, the segments
// retransmitted and the pacing rate, and whether ECN was negotiated.
var tcpTableHeader = fmt.Sprintf("%-22s %-22s %-12s %-6s %9s %9s %9s %9s %9s %7s %9s %-3s %10s %10s\n",
	"local", "remote", "state", "cc", "srtt", "rttvar", "rto", "cwnd", "ssthresh", "retrans", "pacing", "ecn", "sent", "received")

// writeTCPTable writes one row per connection under tcpTableHeader (windows
// in bytes, the pacing rate in bytes per second). What a connection does
// not have is "-": no ssthresh before the first loss
// (as ss), no pacing rate (nothing paces yet), a TIME-WAIT entry's
// congestion control.
func writeTCPTable(w io.Writer, conns []stack.TCPConnInfo) {
	io.WriteString(w, tcpTableHeader)
	for _, c := range conns {
		cc, ssthresh, pacing, ecn := "-", "-", "-", "-"
		if c.Congestion != "" {
			cc = c.Congestion
		}
		if c.Ssthresh < tcp.InfiniteSsthresh {
			ssthresh = strconv.Itoa(c.Ssthresh)
		}
		if c.PacingRate > 0 {
			pacing = strconv.FormatUint(c.PacingRate, 10)
		}
		if c.ECN {
			ecn = "on"
		}
		fmt.Fprintf(w, "%-22v %-22v %-12v %-6s %9v %9v %9v %9d %9s %7d %9s %-3s %10d %10d\n",
			c.Local, c.Remote, c.State, cc, c.SRTT.Round(10*time.Microsecond), c.RTTVar.Round(10*time.Microsecond),
			c.RTO.Round(time.Millisecond), c.Cwnd, ssthresh, c.Retransmits, pacing, ecn, c.BytesSent, c.BytesReceived)
	}
}

// serveHTTP runs net/http on tcp/80 of the stack.
func serveHTTP(st *stack.Stack, log *slog.Logger) (io.Closer, error) {
	l, err := socket.Listen(st, "tcp4", ":80")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           httpHandler(st, time.Now()),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !strings.Contains(err.Error(), "closed") {
			log.Warn("http", "err", err)
		}
	}()
	return srv, nil
}

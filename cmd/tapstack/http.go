package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// httpHandler serves tcp/80: the status page and its JSON twin, counters
// (/stats JSON, /metrics for Prometheus), bytes and echo.
func (d *daemon) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if wantsJSON(r) {
			d.serveStatusJSON(w, r)
			return
		}
		q, err := parseStatusQuery(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		writeStatusText(w, d.status(q))
	})
	mux.HandleFunc("GET /status.json", d.serveStatusJSON)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		var page any
		switch v := r.URL.Query().Get("v"); v {
		case "", "1":
			page = d.st.Stats() // the daemon's contract: unchanged
		case "2":
			p := newStatsV2(d.st, d.started)
			p.Services = d.serviceStats()
			page = p
		default:
			http.Error(w, fmt.Sprintf("?v=%s: want 1 (the layers, the default) or 2 (counters and gauges, uptime, version, services)", v), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(page)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writeMetrics(w, d.st, d.started)
		d.writeServiceMetrics(w)
	})
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 || n > d.maxBytes {
			http.Error(w, fmt.Sprintf("want /bytes/N with 0 <= N <= %d (the daemon's --max-bytes)", d.maxBytes), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		rc := http.NewResponseController(w)
		for n > 0 {
			// Each chunk gets its own deadline: a large response at any
			// reasonable rate outlasts httpWriteTimeout, a stalled peer
			// does not outlast httpChunkTimeout.
			rc.SetWriteDeadline(time.Now().Add(httpChunkTimeout))
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
		rc := http.NewResponseController(w)
		rc.EnableFullDuplex()
		if ct := r.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		if r.ContentLength >= 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
		}
		buf := make([]byte, 64<<10)
		for {
			// As /bytes/N: a deadline per chunk, each way.
			rc.SetReadDeadline(time.Now().Add(httpChunkTimeout))
			rc.SetWriteDeadline(time.Now().Add(httpChunkTimeout))
			n, err := r.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	return mux
}

// wantsJSON reports whether the request asks for JSON by its Accept header.
func wantsJSON(r *http.Request) bool {
	for _, a := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(a), ";")
		if mt == "application/json" {
			return true
		}
	}
	return false
}

func (d *daemon) serveStatusJSON(w http.ResponseWriter, r *http.Request) {
	q, err := parseStatusQuery(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(d.status(q))
}

// writeServiceMetrics writes the services' connection counts.
func (d *daemon) writeServiceMetrics(w io.Writer) {
	if len(d.services) == 0 {
		return // a family without samples says nothing
	}
	fmt.Fprintf(w, "# HELP tapstack_service_connections Connections each service is serving now.\n# TYPE tapstack_service_connections gauge\n")
	for _, s := range d.services {
		fmt.Fprintf(w, "tapstack_service_connections{service=%q} %d\n", s.name, s.active.Load())
	}
	fmt.Fprintf(w, "# HELP tapstack_service_accepted_total Connections each service accepted and served.\n# TYPE tapstack_service_accepted_total counter\n")
	for _, s := range d.services {
		fmt.Fprintf(w, "tapstack_service_accepted_total{service=%q} %d\n", s.name, s.accepted.Load())
	}
	fmt.Fprintf(w, "# HELP tapstack_service_refused_total Connections each service closed at once because --max-service-conns were being served.\n# TYPE tapstack_service_refused_total counter\n")
	for _, s := range d.services {
		fmt.Fprintf(w, "tapstack_service_refused_total{service=%q} %d\n", s.name, s.refused.Load())
	}
}

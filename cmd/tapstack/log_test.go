package main

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

func TestShutdownTotals_NamedFramesConnsAndDrops(t *testing.T) {
	var st stack.Stats
	st.Link.FramesIn, st.Link.FramesOut = 7, 5
	st.IPv4.InReceives = 6
	st.TCP.ActiveOpens, st.TCP.PassiveOpens = 1, 2
	st.UDP.InDatagrams = 4
	st.Link.NotForUs, st.UDP.InCsumErrors = 1, 2 // 3 drops
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})).Info("shutting down", shutdownTotals(st)...)
	want := "level=INFO msg=\"shutting down\" frames_in=7 frames_out=5 tcp_conns=3 udp_in=4 drops=3\n"
	if buf.String() != want {
		t.Fatalf("shutdown line %q, want %q", buf.String(), want)
	}
}

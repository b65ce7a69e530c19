package stack

import (
	"testing"

	"github.com/tapstack/tapstack/tcp"
)

// Each drop package tcp counts is named by its /stats counter; an accept
// queue overflow, which also counts in ListenDrops, by the narrower one.
func TestTCPCountedDrop_NamesTheCounterThatMoved(t *testing.T) {
	for _, tc := range []struct {
		bump func(*tcp.Counters)
		want string
	}{
		{func(k *tcp.Counters) {}, ""},
		{func(k *tcp.Counters) { k.ChallengeACKs++ }, ""}, // a reply, not a drop
		{func(k *tcp.Counters) { k.PAWSDrops++ }, "paws_drops"},
		{func(k *tcp.Counters) { k.ListenOverflows++; k.ListenDrops++ }, "listen_overflows"},
		{func(k *tcp.Counters) { k.ListenDrops++ }, "listen_drops"},
		{func(k *tcp.Counters) { k.SynCookiesFailed++ }, "syncookies_failed"},
		{func(k *tcp.Counters) { k.OutOfOrderDrops++ }, "ofo_drops"},
		{func(k *tcp.Counters) { k.RecvQueueDrops++ }, "rcvq_drops"},
	} {
		before := tcp.Counters{PAWSDrops: 3, ListenDrops: 5, OutOfOrderDrops: 7}
		after := before
		tc.bump(&after)
		if got := tcpCountedDrop(&before, &after); got != tc.want {
			t.Errorf("counters %+v → %+v: %q, want %q", before, after, got, tc.want)
		}
	}
}

package stack_test

import (
	"testing"

	"github.com/tapstack/tapstack/tcp"
)

// TestTCPEndpoint_SetNoDelay_SendsWhatNagleHeld: with TCP_NODELAY off, a
// small segment waits while earlier data is unacknowledged (Nagle, RFC
// 1122 §4.2.3.4); turning it on sends what was held at once.
func TestTCPEndpoint_SetNoDelay_SendsWhatNagleHeld(t *testing.T) {
	e := newEnv(t)
	c, iss := accepted(t, e)
	c.Write([]byte("a"))
	e.expectTCP(tcp.FlagACK|tcp.FlagPSH, iss+1, peerISS+1)
	c.Write([]byte("b"))
	e.none() // held: "a" is not acknowledged yet
	c.SetNoDelay(true)
	if s := e.expectTCP(tcp.FlagACK|tcp.FlagPSH, iss+2, peerISS+1); string(s.Payload) != "b" {
		t.Fatalf("sent %q, want the held b", s.Payload)
	}
}

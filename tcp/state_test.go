package tcp

import (
	"fmt"
	"testing"
)

// String names the states of RFC 9293 §3.3.2, and any other value by its
// number (one past the last state included).
func TestState_String_UnknownStateByNumber(t *testing.T) {
	if got := StateTimeWait.String(); got != "TIME-WAIT" {
		t.Fatalf("StateTimeWait = %q", got)
	}
	if got := numStates.String(); got != fmt.Sprintf("State(%d)", uint8(numStates)) {
		t.Fatalf("numStates = %q", got)
	}
}

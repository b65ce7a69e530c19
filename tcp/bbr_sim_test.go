package tcp

import (
	"testing"
	"time"
)

// TestSim_BBR_EchoWithLoss_Completes runs the simulated echo with BBR on
// both ends: paced, over 5 ms with 1 ms of jitter and 5% random loss,
// the transfer completes intact (echoSimNet compares the bytes) with
// losses repaired by recovery, not the timer.
func TestSim_BBR_EchoWithLoss_Completes(t *testing.T) {
	r := simRun(t, func(seed uint64) simResult {
		return echoSimNet(t, seed, 300000, Config{Congestion: "bbr"}, &simNet{delay: 5 * time.Millisecond, jitter: time.Millisecond, loss: 0.05})
	})
	maxRTOs(t, r, 50)
}

package tcp

// Send-buffer autotuning, as Linux's (net/ipv4/tcp_input.c:
// tcp_init_buffer_space, tcp_new_space, tcp_should_expand_sndbuf and
// tcp_sndbuf_expand). RFC 9293 leaves buffer sizes to the implementation.
//
// A send buffer starts at InitialSndBuf (tcp_wmem[1]) and grows only when
// what the connection may send justifies it: to twice the congestion window
// and at least twice the initial window, "Cubic needs 1.7 factor, rounded to
// 2 to include extra cushion (application might react slowly to POLLOUT)",
// capped at Config.SndBuf (tcp_wmem[2]). It never shrinks. So a peer that
// stops reading pins what it let us send, not the whole Config.SndBuf: the
// user's Write blocks against the current capacity (sk_stream_memory_free).
// SO_SNDBUF locks it (SOCK_SNDBUF_LOCK): the user gets what they asked.

// sndBufSegs is TCP_INIT_CWND, the fewest segments an autotuned send buffer
// is sized for (tcp_sndbuf_expand's floor; RFC 6928's IW).
const sndBufSegs = 10

// initialSndBuf is the capacity a new Conn's send buffer starts with.
func initialSndBuf(cfg Config) int {
	if cfg.SndBufLocked {
		return cfg.SndBuf
	}
	return min(InitialSndBuf, cfg.SndBuf)
}

// expandSndBuf grows an autotuned send buffer after an ACK of new data
// (tcp_new_space: an ACK freed space) when tcp_should_expand_sndbuf
// allows: not under memory pressure, and the congestion window not filled
// (a buffer that keeps cwnd full needs no more). Its SO_SNDBUF lock needs
// no test here: SetSndBuf makes Config.SndBuf the size, which caps the
// target. The target is 2 * max(cwnd, sndBufSegs * SMSS) bytes of payload
// (Linux counts each segment's skb truesize; our ring holds payload only).
//
// Deviation (Linux compat): the target is also capped at twice the
// largest window the peer has offered (MAX.SND.WND, at least
// InitialSndBuf), and a zero window stops growth. Linux relies on its
// cwnd growing only while cwnd-limited (tcp_is_cwnd_limited, RFC 7661),
// which ours now does too (cwndLimited); the caps stay as a second bound
// on what a receiver-limited connection pins.
func (c *Conn) expandSndBuf() {
	if c.cfg.Memory.UnderPressure() || c.sndWnd == 0 || c.flightSize() >= c.cc.cwnd() {
		return
	}
	want := 2 * max(c.cc.cwnd(), sndBufSegs*c.mss)
	want = min(want, 2*max(c.maxSndWnd, InitialSndBuf), c.cfg.SndBuf)
	if want > c.sndBuf.Cap() {
		c.sndBuf.SetCap(want)
		c.events |= EventWritable // a writer blocked on the full buffer may go on
	}
}

// noteSendSpace wakes a writer (EventWritable) after an ACK freed send
// buffer space, once the free space is at least half of what is still
// queued, i.e. a third of the buffer when it was full. Linux does the same
// (net/core/stream.c, sk_stream_write_space: sk_stream_wspace >=
// sk_stream_min_wspace): a writer blocked on a full buffer then copies a
// large piece per wake-up instead of the few MSS each ACK frees, and it is
// not scheduled once per ACK.
func (c *Conn) noteSendSpace() {
	if c.sndBuf.Free() >= c.sndBuf.Len()/2 {
		c.events |= EventWritable
	}
}

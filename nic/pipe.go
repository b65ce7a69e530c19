package nic

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tapstack/tapstack/clock"
)

// Pipe defaults.
const (
	DefaultMTU          = 1500
	DefaultPipeQueueLen = 1024
	pipeBatch           = 64
	pipeFreeMax         = 256 // spare frame buffers kept per direction
)

// ErrOffloadUnsupported is returned by Write for a frame whose Meta is not
// zero on a device that agreed to no offloads (a stack bug that would
// otherwise put bad checksums or super-frames on the link).
var ErrOffloadUnsupported = errors.New("nic: frame carries offload metadata but the device has no offloads")

// Impairment is what a Pipe does to the frames of one direction. Each
// probability is in [0, 1].
type Impairment struct {
	Loss      float64 // probability a frame is dropped
	Duplicate float64 // probability a frame is delivered twice
	// Reorder is the probability a frame is held back and delivered right
	// after the next frame written in the same direction. A held frame is
	// also released by Flush; Close discards it. At most one frame is held
	// at a time.
	Reorder float64
	// Delay is the one-way delay: a frame becomes readable when the pipe's
	// clock reaches its send time + Delay. Changing Delay while frames are in
	// flight may reorder them, as a path change would.
	Delay time.Duration
	// Rate, if not zero, is the link's rate in bits per second: a frame
	// takes len*8/Rate to serialize (its link header, if any, and payload;
	// no preamble, FCS or inter-frame gap), frames leave one after another,
	// each once the one before has left, then travel Delay. A frame
	// written while the link is busy waits in the direction's queue.
	Rate int64
	// QueueBytes, if not zero, bounds that queue as a drop-tail router's
	// buffer: a frame that finds more than QueueBytes less its own length
	// still to be serialized is dropped and counted in Stats().QueueDrops.
	// Zero: no bound but QueueLen. It applies only with a Rate.
	QueueBytes int
}

func (im Impairment) validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"Loss", im.Loss}, {"Duplicate", im.Duplicate}, {"Reorder", im.Reorder}} {
		if !(p.v >= 0 && p.v <= 1) { // also rejects NaN
			return fmt.Errorf("nic: impairment %s = %v, want a probability in [0, 1]", p.name, p.v)
		}
	}
	if im.Delay < 0 {
		return fmt.Errorf("nic: impairment Delay = %v, want ≥ 0", im.Delay)
	}
	if im.Rate < 0 || im.QueueBytes < 0 {
		return fmt.Errorf("nic: impairment Rate = %d, QueueBytes = %d, want ≥ 0", im.Rate, im.QueueBytes)
	}
	return nil
}

// PipeConfig configures NewPipe. Its zero value is a lossless 1500-byte
// Ethernet link.
type PipeConfig struct {
	// Link is what the pipe carries: Ethernet frames (the zero value), or
	// with LinkIP bare IP packets, as a TUN does. Each end's Info says so.
	Link LinkKind
	MTU  int // default 1500; Info().MaxFrame = Link.HeaderLen() + MTU
	// MACA and MACB are the ends' own MACs on an Ethernet pipe. Zero: a
	// locally administered unicast MAC derived from Seed, so captures are
	// reproducible too. An IP pipe has none: they must be zero.
	MACA, MACB [6]byte
	// QueueLen bounds the frames buffered per direction: readable, delayed
	// and held back together. Default 1024. When it is full, Write drops the
	// frame and counts it in Stats().Overflow, returning no error, as a TAP
	// does when its txqueue is full.
	QueueLen int
	Seed     uint64 // seeds the impairment PRNGs (PCG), one per direction
	// Offloads, if not zero, are what both ends agree to, as a pair of
	// virtio-net devices would: frames carry their Meta across untouched
	// (a TSO super-frame arrives whole, with its partial checksum), and
	// with RxGSO4 or TxTSO4 a frame may be up to Link.HeaderLen() + 65535
	// bytes (MaxFrame), with RxGSO6 or TxTSO6 Link.HeaderLen() + 40 + 65535. The impairments act on each frame as written, a
	// super-frame as one. Zero: plain frames; a Meta is an error.
	Offloads Offloads
	AtoB     Impairment
	BtoA     Impairment
	Clock    clock.Clock // used only for Delay; default clock.Real{}
}

// PipeStats counts the frames written at one end. Once nothing is in flight,
// Sent + Duplicated = Delivered + Lost + Overflow + QueueDrops.
type PipeStats struct {
	Sent       uint64 // frames Write accepted
	Delivered  uint64 // copies that became readable at the other end
	Lost       uint64 // dropped by Impairment.Loss
	Duplicated uint64 // extra copies made by Impairment.Duplicate
	Reordered  uint64 // frames held back by Impairment.Reorder
	Overflow   uint64 // copies dropped because the queue was full
	QueueDrops uint64 // copies dropped by the full Impairment.QueueBytes queue
}

// NewPipe returns the two ends of an in-memory link, Ethernet or IP as
// cfg.Link says. A pipe does not look inside frames. What a writes,
// b reads, and the other way round, each direction with its own impairments
// and its own PRNG seeded from cfg.Seed, so the same sequence of writes in a
// direction meets the same fate on every run.
//
// NewPipe panics if cfg holds an impossible value (negative MTU or QueueLen,
// a probability outside [0, 1], a negative Delay, an unknown Link, MACs on
// an IP link): that is a bug in the test that built it.
func NewPipe(cfg PipeConfig) (a, b *PipeEnd) {
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = DefaultPipeQueueLen
	}
	if cfg.MTU < 0 || cfg.QueueLen < 0 {
		panic(fmt.Sprintf("nic: NewPipe: MTU %d, QueueLen %d: want ≥ 0", cfg.MTU, cfg.QueueLen))
	}
	if cfg.Link > LinkIP || (cfg.Link == LinkIP && (cfg.MACA != [6]byte{} || cfg.MACB != [6]byte{})) {
		panic(fmt.Sprintf("nic: NewPipe: Link %v with MACs %x and %x: want Ethernet, or IP with no MACs", cfg.Link, cfg.MACA, cfg.MACB))
	}
	for _, im := range []Impairment{cfg.AtoB, cfg.BtoA} {
		if err := im.validate(); err != nil {
			panic(err)
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	macRNG := rand.New(rand.NewPCG(cfg.Seed, 0x6d61632d61646472)) // "mac-addr"
	macA, macB := randomMAC(macRNG.Uint64()), randomMAC(macRNG.Uint64())
	if cfg.MACA == ([6]byte{}) && cfg.Link == LinkEthernet {
		cfg.MACA = macA
	}
	if cfg.MACB == ([6]byte{}) && cfg.Link == LinkEthernet {
		cfg.MACB = macB
	}
	maxFrame := cfg.Link.HeaderLen() + cfg.MTU
	if cfg.Offloads&(RxGSO4|TxTSO4|RxGSO6|TxTSO6) != 0 {
		maxFrame = cfg.Link.HeaderLen() + maxSuperLen(cfg.Offloads)
	}
	p := &pipe{
		maxFrame: maxFrame,
		queueLen: cfg.QueueLen,
		clk:      cfg.Clock,
		done:     make(chan struct{}),
	}
	p.ab = newPipeDir(p, cfg.AtoB, rand.NewPCG(cfg.Seed, 0x612d3e62)) // "a->b"
	p.ba = newPipeDir(p, cfg.BtoA, rand.NewPCG(cfg.Seed, 0x622d3e61)) // "b->a"
	info := Info{Link: cfg.Link, MTU: cfg.MTU, MaxFrame: p.maxFrame, Batch: pipeBatch, Offloads: cfg.Offloads}
	a = &PipeEnd{p: p, out: p.ab, in: p.ba, info: info}
	a.info.Name, a.info.MAC = "pipe-a", cfg.MACA
	b = &PipeEnd{p: p, out: p.ba, in: p.ab, info: info}
	b.info.Name, b.info.MAC = "pipe-b", cfg.MACB
	return a, b
}

// randomMAC returns a locally administered unicast MAC.
func randomMAC(v uint64) [6]byte {
	var m [6]byte
	for i := range m {
		m[i] = byte(v >> (8 * i))
	}
	m[0] = m[0]&^0x01 | 0x02
	return m
}

// PipeEnd is one end of a Pipe. It implements Device with Batch 64 and the
// pipe's Offloads (none by default): Read returns every frame ready, up to
// len(fs).
//
// Ownership: Write copies each frame into a buffer of the pipe's own, so the
// caller may reuse its buffer at once; Read copies into the caller's buffers
// and recycles the pipe's.
//
// Concurrency: as for Device. In addition TryRead, Flush, SetImpairment and
// Stats may be called from any goroutine at any time.
//
// Close on either end closes the whole pipe at once: from then on Read and
// Write on both ends return ErrClosed, frames still in flight are discarded,
// and a blocked Read returns. Close always returns nil.
type PipeEnd struct {
	p    *pipe
	out  *pipeDir // frames written here
	in   *pipeDir // frames read here
	info Info
}

type pipe struct {
	maxFrame int
	queueLen int
	clk      clock.Clock
	ab, ba   *pipeDir
	once     sync.Once
	done     chan struct{} // closed by Close
}

// pipeDir is one direction of a pipe. Everything in it is guarded by mu.
type pipeDir struct {
	p      *pipe
	notify chan struct{} // cap 1: "ready may have become non-empty"

	mu      sync.Mutex
	closed  bool
	vec     []byte // WriteVec's frame, put together
	im      Impairment
	rng     *rand.Rand
	ready   ring           // readable now
	delayed []delayedFrame // sorted by due, stable
	held    []pipeFrame    // copies of the frame held back for Reorder
	free    [][]byte       // spare buffers of cap maxFrame
	timer   clock.Timer    // releases delayed frames; nil until first needed
	armed   bool           // timer is pending
	armedAt time.Time      // when it fires
	// busyUntil is when the last frame accepted by the rate limiter has
	// been serialized: the bytes still queued are (busyUntil-now)·Rate/8.
	busyUntil time.Time
	stats     PipeStats
}

type delayedFrame struct {
	b   pipeFrame
	due time.Time
}

// pipeFrame is a frame in flight: the pipe's copy of its bytes and its
// Meta. b is nil for a copy that overflowed the queue.
type pipeFrame struct {
	b []byte
	m Meta
}

func newPipeDir(p *pipe, im Impairment, src rand.Source) *pipeDir {
	return &pipeDir{
		p:      p,
		notify: make(chan struct{}, 1),
		im:     im,
		rng:    rand.New(src),
		ready:  ring{buf: make([]pipeFrame, min(p.queueLen, 64))},
	}
}

// Info describes this end; MAC is this end's own (zero on an IP pipe).
func (e *PipeEnd) Info() Info { return e.info }

// Write sends fs in order to the other end, applying this direction's
// impairments, and returns how many frames it accepted. A frame dropped by
// Loss or by a full queue counts as accepted. A frame larger than MaxFrame
// stops the batch with ErrFrameTooBig, a frame with a non-zero Meta with
// ErrOffloadUnsupported unless the pipe has Offloads.
func (e *PipeEnd) Write(fs []Frame) (int, error) {
	d := e.out
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, ErrClosed
	}
	for i := range fs {
		f := &fs[i]
		if err := e.check(len(f.Data), f.Meta); err != nil {
			return i, err
		}
		d.writeLocked(f.Data, f.Meta)
	}
	return len(fs), nil
}

// WriteVec writes the frame head+tail[0]+tail[1] as Write would write it
// (VecWriter), so that a stack on a Pipe takes the same path as on a TAP.
func (e *PipeEnd) WriteVec(head []byte, tail [2][]byte, meta Meta) error {
	d := e.out
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if err := e.check(len(head)+len(tail[0])+len(tail[1]), meta); err != nil {
		return err
	}
	d.vec = append(append(append(d.vec[:0], head...), tail[0]...), tail[1]...)
	d.writeLocked(d.vec, meta)
	return nil
}

// check refuses a frame of n bytes with meta that this end cannot carry.
func (e *PipeEnd) check(n int, meta Meta) error {
	if n > e.p.maxFrame {
		return fmt.Errorf("%w: %d bytes, MaxFrame %d", ErrFrameTooBig, n, e.p.maxFrame)
	}
	if meta != (Meta{}) && e.info.Offloads == 0 {
		return ErrOffloadUnsupported
	}
	return nil
}

// writeLocked applies the impairments to one frame. Three numbers are drawn
// for every frame, whatever the probabilities, so that each frame's fate
// depends only on the seed and its position in the direction.
func (d *pipeDir) writeLocked(data []byte, m Meta) {
	d.stats.Sent++
	lossR, dupR, reorderR := d.rng.Float64(), d.rng.Float64(), d.rng.Float64()
	held := d.held // released after this frame; still counted in flight meanwhile
	switch {
	case lossR < d.im.Loss:
		d.stats.Lost++
	case reorderR < d.im.Reorder && held == nil:
		d.stats.Reordered++
		d.held = append(d.held, d.copyLocked(data, m))
		if dupR < d.im.Duplicate {
			d.stats.Duplicated++
			d.held = append(d.held, d.copyLocked(data, m))
		}
	default:
		d.enqueueLocked(d.copyLocked(data, m))
		if dupR < d.im.Duplicate {
			d.stats.Duplicated++
			d.enqueueLocked(d.copyLocked(data, m))
		}
	}
	if held != nil {
		d.held = nil
		for _, b := range held {
			d.enqueueLocked(b)
		}
	}
}

// inFlightLocked counts the buffered frames of the direction.
func (d *pipeDir) inFlightLocked() int { return d.ready.n + len(d.delayed) + len(d.held) }

// copyLocked copies a frame into a pipe buffer, or returns one with a nil
// buffer (counted as Overflow) if the direction's queue is full.
func (d *pipeDir) copyLocked(data []byte, m Meta) pipeFrame {
	if d.inFlightLocked() >= d.p.queueLen {
		d.stats.Overflow++
		return pipeFrame{}
	}
	var b []byte
	if n := len(d.free); n > 0 {
		b, d.free = d.free[n-1], d.free[:n-1]
	} else {
		b = make([]byte, 0, d.p.maxFrame)
	}
	return pipeFrame{b: append(b[:0], data...), m: m}
}

// enqueueLocked makes b readable now or, with a Rate or a Delay, when it is
// due: once it has waited its turn, been serialized and crossed the link.
func (d *pipeDir) enqueueLocked(f pipeFrame) {
	b := f.b
	if b == nil { // overflowed in copyLocked
		return
	}
	if d.im.Delay == 0 && d.im.Rate == 0 {
		d.readyLocked(f)
		return
	}
	now := d.p.clk.Now()
	due := now
	if d.im.Rate > 0 {
		start := now
		if d.busyUntil.After(now) {
			start = d.busyUntil
			if d.im.QueueBytes > 0 && queuedBytes(start.Sub(now), d.im.Rate)+len(b) > d.im.QueueBytes {
				d.stats.QueueDrops++
				d.recycleLocked(b)
				return
			}
		}
		d.busyUntil = start.Add(serialization(len(b), d.im.Rate))
		due = d.busyUntil
	}
	due = due.Add(d.im.Delay)
	i := len(d.delayed)
	d.delayed = append(d.delayed, delayedFrame{})
	for i > 0 && d.delayed[i-1].due.After(due) {
		d.delayed[i] = d.delayed[i-1]
		i--
	}
	d.delayed[i] = delayedFrame{b: f, due: due}
	if !d.armed || due.Before(d.armedAt) {
		d.armLocked(due)
	}
}

// serialization is how long n bytes take to leave at rate bits per second,
// rounded up to the nanosecond.
func serialization(n int, rate int64) time.Duration {
	bits := int64(n) * 8 * int64(time.Second)
	return time.Duration((bits + rate - 1) / rate)
}

// queuedBytes is how many bytes a link at rate bits per second still has to
// send when it is busy for another d: the frames waiting and what is left of
// the one being serialized, rounded up.
func queuedBytes(d time.Duration, rate int64) int {
	hi, lo := bits.Mul64(uint64(d), uint64(rate))
	lo, carry := bits.Add64(lo, uint64(time.Second)-1, 0)
	hi += carry
	if hi >= uint64(time.Second) { // more than 2^64 bits: no queue is that long
		return math.MaxInt
	}
	n, _ := bits.Div64(hi, lo, uint64(time.Second))
	return int(min((n+7)/8, math.MaxInt))
}

func (d *pipeDir) readyLocked(f pipeFrame) {
	d.ready.push(f)
	d.stats.Delivered++
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

func (d *pipeDir) armLocked(at time.Time) {
	wait := at.Sub(d.p.clk.Now())
	if d.timer == nil {
		d.timer = d.p.clk.AfterFunc(wait, d.release)
	} else {
		d.timer.Reset(wait)
	}
	d.armed, d.armedAt = true, at
}

// release runs from the clock's timer: it makes every due frame readable
// and re-arms for the next one.
func (d *pipeDir) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed = false
	if d.closed {
		return
	}
	now := d.p.clk.Now()
	i := 0
	for ; i < len(d.delayed) && !d.delayed[i].due.After(now); i++ {
		d.readyLocked(d.delayed[i].b)
		d.delayed[i] = delayedFrame{}
	}
	d.delayed = d.delayed[i:]
	if len(d.delayed) > 0 {
		d.armLocked(d.delayed[0].due)
	}
}

// Read blocks until the other end's frames are readable, then copies as many
// as fit into fs. Each fs[i].Data must have a capacity of at least MaxFrame.
// It returns ErrClosed once either end is closed.
func (e *PipeEnd) Read(fs []Frame) (int, error) {
	if len(fs) == 0 {
		return 0, nil
	}
	d := e.in
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return 0, ErrClosed
		}
		if d.ready.n > 0 {
			n := 0
			for ; n < len(fs) && d.ready.n > 0; n++ {
				if cap(fs[n].Data) < e.p.maxFrame {
					if n == 0 {
						d.mu.Unlock()
						return 0, fmt.Errorf("nic: read buffer capacity %d is below MaxFrame %d", cap(fs[n].Data), e.p.maxFrame)
					}
					break
				}
				f := d.ready.pop()
				fs[n].Data = append(fs[n].Data[:0], f.b...)
				fs[n].Meta = f.m
				d.recycleLocked(f.b)
			}
			d.mu.Unlock()
			return n, nil
		}
		d.mu.Unlock()
		select {
		case <-d.notify:
		case <-e.p.done:
		}
	}
}

func (d *pipeDir) recycleLocked(b []byte) {
	if len(d.free) < pipeFreeMax {
		d.free = append(d.free, b)
	}
}

// TryRead returns the next readable frame without blocking, in a buffer the
// caller owns, or false if none is readable or the pipe is closed. It is for
// packet-level tests that check frames one by one.
func (e *PipeEnd) TryRead() ([]byte, bool) {
	f, ok := e.TryReadFrame()
	return f.Data, ok
}

// TryReadFrame is TryRead with the frame's Meta (zero unless the pipe has
// Offloads).
func (e *PipeEnd) TryReadFrame() (Frame, bool) {
	d := e.in
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.ready.n == 0 {
		return Frame{}, false
	}
	f := d.ready.pop()
	return Frame{Data: f.b, Meta: f.m}, true
}

// SetImpairment sets the impairments for frames written at this end from now
// on. It panics on an impossible value, as NewPipe does.
func (e *PipeEnd) SetImpairment(im Impairment) {
	if err := im.validate(); err != nil {
		panic(err)
	}
	d := e.out
	d.mu.Lock()
	d.im = im
	d.mu.Unlock()
}

// Flush releases the frame held back by Reorder in this end's direction, if
// any (it goes through Delay like any other frame).
func (e *PipeEnd) Flush() {
	d := e.out
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	held := d.held
	d.held = nil
	for _, b := range held {
		d.enqueueLocked(b)
	}
}

// Stats returns the counters for frames written at this end.
func (e *PipeEnd) Stats() PipeStats {
	d := e.out
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Close closes both ends; see PipeEnd.
func (e *PipeEnd) Close() error {
	e.p.once.Do(func() {
		for _, d := range []*pipeDir{e.p.ab, e.p.ba} {
			d.mu.Lock()
			d.closed = true
			if d.timer != nil {
				d.timer.Stop()
			}
			d.ready, d.delayed, d.held, d.free = ring{}, nil, nil, nil
			d.mu.Unlock()
		}
		close(e.p.done)
	})
	return nil
}

// ring is a FIFO of frames that grows by doubling.
type ring struct {
	buf  []pipeFrame
	head int
	n    int
}

func (r *ring) push(b pipeFrame) {
	if r.n == len(r.buf) {
		nb := make([]pipeFrame, max(2*len(r.buf), 16))
		for i := 0; i < r.n; i++ {
			nb[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = b
	r.n++
}

func (r *ring) pop() pipeFrame {
	b := r.buf[r.head]
	r.buf[r.head] = pipeFrame{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return b
}

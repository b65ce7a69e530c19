package nic_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tapstack/tapstack/clock"
	"github.com/tapstack/tapstack/nic"
)

var _ nic.Device = (*nic.PipeEnd)(nil)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// frame returns a small distinct frame numbered i.
func frame(i int) []byte {
	b := make([]byte, 60)
	copy(b[14:], fmt.Sprintf("frame %d", i))
	return b
}

// frameNum undoes frame.
func frameNum(t *testing.T, b []byte) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(string(b[14:]), "frame %d", &i); err != nil {
		t.Fatalf("not a test frame: %q", b)
	}
	return i
}

// send writes frames first..first+n-1 one per Write call, as a stack would.
func send(t *testing.T, e *nic.PipeEnd, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		if _, err := e.Write([]nic.Frame{{Data: frame(i)}}); err != nil {
			t.Fatalf("Write frame %d: %v", i, err)
		}
	}
}

// drain returns the numbers of every frame readable at e, in order.
func drain(t *testing.T, e *nic.PipeEnd) []int {
	t.Helper()
	var got []int
	for {
		b, ok := e.TryRead()
		if !ok {
			return got
		}
		got = append(got, frameNum(t, b))
	}
}

func seq(first, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = first + i
	}
	return s
}

func TestPipe_NoImpairment_DeliversInOrderBothWays(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{})
	defer a.Close()
	send(t, a, 0, 100)
	send(t, b, 1000, 3)
	if got := drain(t, b); !slices.Equal(got, seq(0, 100)) {
		t.Fatalf("b read %v, want 0..99 in order", got)
	}
	if got := drain(t, a); !slices.Equal(got, seq(1000, 3)) {
		t.Fatalf("a read %v, want 1000..1002", got)
	}
	want := nic.PipeStats{Sent: 100, Delivered: 100}
	if s := a.Stats(); s != want {
		t.Fatalf("a stats %+v, want %+v", s, want)
	}
}

func TestPipe_Read_ReturnsBatchAndCopiesBeforeReturning(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{})
	defer a.Close()
	buf := frame(7)
	fs := []nic.Frame{{Data: buf}, {Data: frame(8)}, {Data: frame(9)}}
	if n, err := a.Write(fs); n != 3 || err != nil {
		t.Fatalf("Write = %d, %v; want 3, nil", n, err)
	}
	clear(buf) // the pipe must have copied it
	max := b.Info().MaxFrame
	rs := make([]nic.Frame, 64)
	for i := range rs {
		rs[i].Data = make([]byte, 0, max)
	}
	n, err := b.Read(rs)
	if n != 3 || err != nil {
		t.Fatalf("Read = %d, %v; want 3, nil", n, err)
	}
	for i := range 3 {
		if got := frameNum(t, rs[i].Data); got != 7+i {
			t.Fatalf("frame %d is %d, want %d", i, got, 7+i)
		}
	}
}

func TestPipe_Info(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{MTU: 9000, MACA: [6]byte{2, 0, 0, 0, 0, 1}, Seed: 3})
	defer a.Close()
	ia, ib := a.Info(), b.Info()
	if ia.MAC != [6]byte{2, 0, 0, 0, 0, 1} || ia.MTU != 9000 || ia.MaxFrame != 9014 || ia.Batch != 64 || ia.Offloads != 0 {
		t.Fatalf("a.Info() = %+v", ia)
	}
	if ib.MAC[0]&0x03 != 0x02 || ib.MAC == ia.MAC {
		t.Fatalf("b's MAC %x is not a fresh locally administered unicast MAC", ib.MAC)
	}
	_, b2 := nic.NewPipe(nic.PipeConfig{Seed: 3})
	defer b2.Close()
	if b2.Info().MAC != ib.MAC {
		t.Fatalf("same seed gave MACs %x and %x", b2.Info().MAC, ib.MAC)
	}
}

func TestPipe_LossOne_DropsEveryFrameAndCounts(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{AtoB: nic.Impairment{Loss: 1}})
	defer a.Close()
	send(t, a, 0, 50)
	if got := drain(t, b); len(got) != 0 {
		t.Fatalf("b read %v, want nothing", got)
	}
	want := nic.PipeStats{Sent: 50, Lost: 50}
	if s := a.Stats(); s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
	// The other direction is unimpaired.
	send(t, b, 0, 1)
	if got := drain(t, a); len(got) != 1 {
		t.Fatalf("a read %v, want one frame", got)
	}
}

func TestPipe_DuplicateOne_DeliversEveryFrameTwice(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{AtoB: nic.Impairment{Duplicate: 1}})
	defer a.Close()
	send(t, a, 0, 3)
	if got, want := drain(t, b), []int{0, 0, 1, 1, 2, 2}; !slices.Equal(got, want) {
		t.Fatalf("b read %v, want %v", got, want)
	}
	want := nic.PipeStats{Sent: 3, Delivered: 6, Duplicated: 3}
	if s := a.Stats(); s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
}

func TestPipe_ReorderOne_SwapsAdjacentFrames(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{AtoB: nic.Impairment{Reorder: 1}})
	defer a.Close()
	send(t, a, 0, 5)
	// 0 held; 1 delivered, then 0; 2 held; 3, then 2; 4 held.
	if got, want := drain(t, b), []int{1, 0, 3, 2}; !slices.Equal(got, want) {
		t.Fatalf("b read %v, want %v", got, want)
	}
	a.Flush()
	if got, want := drain(t, b), []int{4}; !slices.Equal(got, want) {
		t.Fatalf("after Flush b read %v, want %v", got, want)
	}
	want := nic.PipeStats{Sent: 5, Delivered: 5, Reordered: 3}
	if s := a.Stats(); s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
}

func TestPipe_SameSeed_SameOutcomes(t *testing.T) {
	im := nic.Impairment{Loss: 0.2, Duplicate: 0.2, Reorder: 0.2}
	run := func(seed uint64) ([]int, nic.PipeStats) {
		a, b := nic.NewPipe(nic.PipeConfig{Seed: seed, AtoB: im})
		defer a.Close()
		send(t, a, 0, 500)
		a.Flush()
		return drain(t, b), a.Stats()
	}
	got1, st1 := run(42)
	got2, st2 := run(42)
	if !slices.Equal(got1, got2) || st1 != st2 {
		t.Fatalf("seed 42 gave different runs:\n%v %+v\n%v %+v", got1, st1, got2, st2)
	}
	if st1.Lost == 0 || st1.Duplicated == 0 || st1.Reordered == 0 {
		t.Fatalf("500 frames at 20%% each should see every impairment: %+v", st1)
	}
	if st1.Sent+st1.Duplicated != st1.Delivered+st1.Lost+st1.Overflow {
		t.Fatalf("counters do not add up: %+v", st1)
	}
	got3, _ := run(43)
	if slices.Equal(got1, got3) {
		t.Fatal("seeds 42 and 43 gave identical runs")
	}
}

func TestPipe_Delay_FrameReadableOnlyOnceClockAdvances(t *testing.T) {
	clk := clock.NewManual(epoch)
	a, b := nic.NewPipe(nic.PipeConfig{Clock: clk, AtoB: nic.Impairment{Delay: 10 * time.Millisecond}})
	defer a.Close()
	send(t, a, 0, 1)
	clk.Advance(5 * time.Millisecond)
	send(t, a, 1, 1) // due at 15ms
	if got := drain(t, b); len(got) != 0 {
		t.Fatalf("read %v before the delay passed", got)
	}
	clk.Advance(5*time.Millisecond - 1)
	if got := drain(t, b); len(got) != 0 {
		t.Fatalf("read %v 1ns before the delay passed", got)
	}
	clk.Advance(1)
	if got, want := drain(t, b), []int{0}; !slices.Equal(got, want) {
		t.Fatalf("at 10ms read %v, want %v", got, want)
	}
	clk.Advance(5 * time.Millisecond)
	if got, want := drain(t, b), []int{1}; !slices.Equal(got, want) {
		t.Fatalf("at 15ms read %v, want %v", got, want)
	}
	if clk.Pending() != 0 {
		t.Fatalf("%d timers still armed with nothing in flight", clk.Pending())
	}
}

func TestPipe_Delay_WakesBlockedRead(t *testing.T) {
	clk := clock.NewManual(epoch)
	a, b := nic.NewPipe(nic.PipeConfig{Clock: clk, AtoB: nic.Impairment{Delay: time.Second}})
	defer a.Close()
	send(t, a, 0, 1)
	got := make(chan int, 1)
	go func() {
		fs := []nic.Frame{{Data: make([]byte, 0, b.Info().MaxFrame)}}
		if n, err := b.Read(fs); n != 1 || err != nil {
			t.Errorf("Read = %d, %v", n, err)
			got <- -1
			return
		}
		got <- len(fs[0].Data)
	}()
	clk.Advance(time.Second)
	if n := <-got; n != 60 {
		t.Fatalf("read a %d-byte frame, want 60", n)
	}
}

func TestPipe_QueueFull_DropsAndCountsOverflow(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{QueueLen: 4})
	defer a.Close()
	send(t, a, 0, 10) // Write reports no error for a full queue
	if got := drain(t, b); !slices.Equal(got, seq(0, 4)) {
		t.Fatalf("read %v, want 0..3", got)
	}
	want := nic.PipeStats{Sent: 10, Delivered: 4, Overflow: 6}
	if s := a.Stats(); s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
	send(t, a, 10, 1) // drained: room again
	if got := drain(t, b); !slices.Equal(got, []int{10}) {
		t.Fatalf("read %v, want [10]", got)
	}
}

// At 1 Mbit/s a 60-byte test frame takes 480µs to serialize.
const (
	testRate  = 1_000_000
	frameTime = 480 * time.Microsecond
)

// readableAt advances clk to at-1ns, checks nothing is readable at b, then
// to at, and returns what is readable there.
func readableAt(t *testing.T, clk *clock.Manual, b *nic.PipeEnd, at time.Time) []int {
	t.Helper()
	clk.Set(at.Add(-1))
	if got := drain(t, b); len(got) != 0 {
		t.Fatalf("read %v 1ns before %v", got, at.Sub(epoch))
	}
	clk.Set(at)
	return drain(t, b)
}

func TestPipe_Rate_FrameNLeavesAfterNSerializationsThenDelay(t *testing.T) {
	clk := clock.NewManual(epoch)
	const delay = 10 * time.Millisecond
	a, b := nic.NewPipe(nic.PipeConfig{Clock: clk, AtoB: nic.Impairment{Rate: testRate, Delay: delay}})
	defer a.Close()
	send(t, a, 0, 3) // back to back: frame i has left at (i+1)·480µs
	for i := range 3 {
		at := epoch.Add(time.Duration(i+1)*frameTime + delay)
		if got := readableAt(t, clk, b, at); !slices.Equal(got, []int{i}) {
			t.Fatalf("at %v read %v, want [%d]", at.Sub(epoch), got, i)
		}
	}
	// The link has been idle since 3·480µs: a frame written now starts at
	// once instead of queueing behind the last one.
	start := clk.Now()
	send(t, a, 3, 1)
	if got := readableAt(t, clk, b, start.Add(frameTime+delay)); !slices.Equal(got, []int{3}) {
		t.Fatalf("a frame on an idle link read %v, want [3]", got)
	}
	// The other direction has no rate: the limit is per direction.
	send(t, b, 9, 1)
	if got := drain(t, a); !slices.Equal(got, []int{9}) {
		t.Fatalf("unlimited direction read %v, want [9]", got)
	}
}

func TestPipe_QueueBytes_DropsTailAndCounts(t *testing.T) {
	clk := clock.NewManual(epoch)
	// Room for three 60-byte frames, the one being serialized included.
	a, b := nic.NewPipe(nic.PipeConfig{Clock: clk, AtoB: nic.Impairment{Rate: testRate, QueueBytes: 180}})
	defer a.Close()
	send(t, a, 0, 5) // 0, 1, 2 fit; 3 and 4 find 180 bytes queued
	if s := a.Stats(); s.QueueDrops != 2 {
		t.Fatalf("after 5 frames into a 3-frame queue: %+v, want 2 QueueDrops", s)
	}
	// Frame 0 has left: 120 bytes still queued, room for one more.
	clk.Set(epoch.Add(frameTime))
	send(t, a, 5, 2)
	clk.Set(epoch.Add(10 * frameTime))
	if got, want := drain(t, b), []int{0, 1, 2, 5}; !slices.Equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	want := nic.PipeStats{Sent: 7, Delivered: 4, QueueDrops: 3}
	if s := a.Stats(); s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
}

func TestPipe_RateQueueAndLoss_SameSeedSameOutcomesAndCountersAddUp(t *testing.T) {
	im := nic.Impairment{Loss: 0.1, Rate: testRate, QueueBytes: 600, Delay: time.Millisecond}
	run := func(seed uint64) ([]int, nic.PipeStats) {
		clk := clock.NewManual(epoch)
		a, b := nic.NewPipe(nic.PipeConfig{Seed: seed, Clock: clk, AtoB: im})
		defer a.Close()
		var got []int
		for i := range 400 { // two frames per serialization time: the queue fills
			send(t, a, i, 1)
			clk.Advance(frameTime / 2)
			got = append(got, drain(t, b)...)
		}
		clk.Advance(time.Second)
		return append(got, drain(t, b)...), a.Stats()
	}
	got1, st1 := run(7)
	got2, st2 := run(7)
	if !slices.Equal(got1, got2) || st1 != st2 {
		t.Fatalf("seed 7 gave different runs:\n%v %+v\n%v %+v", got1, st1, got2, st2)
	}
	if st1.Lost == 0 || st1.QueueDrops == 0 {
		t.Fatalf("400 frames at twice the rate with 10%% loss should see both drops: %+v", st1)
	}
	if st1.Sent+st1.Duplicated != st1.Delivered+st1.Lost+st1.Overflow+st1.QueueDrops {
		t.Fatalf("counters do not add up: %+v", st1)
	}
	// Twice the rate, half of what is not lost gets through, about.
	if d := int(st1.Delivered); d < 180 || d > 220 {
		t.Fatalf("delivered %d of 400 frames written at twice the rate, want about 200: %+v", d, st1)
	}
	if _, st3 := run(8); st3 == st1 {
		t.Fatal("seeds 7 and 8 gave identical counters")
	}
}

func TestPipe_Close_UnblocksReadOnBothEnds(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{})
	errs := make(chan error, 2)
	for _, e := range []*nic.PipeEnd{a, b} {
		go func() {
			_, err := e.Read([]nic.Frame{{Data: make([]byte, 0, e.Info().MaxFrame)}})
			errs <- err
		}()
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, nic.ErrClosed) {
			t.Fatalf("Read after Close = %v, want ErrClosed", err)
		}
	}
	if _, err := b.Write([]nic.Frame{{Data: frame(0)}}); !errors.Is(err, nic.ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestPipe_Write_RejectsFrameTooBigAndOffloadMeta(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{MTU: 100})
	defer a.Close()
	fs := []nic.Frame{{Data: make([]byte, 114)}, {Data: make([]byte, 115)}, {Data: make([]byte, 60)}}
	n, err := a.Write(fs)
	if n != 1 || !errors.Is(err, nic.ErrFrameTooBig) {
		t.Fatalf("Write = %d, %v; want 1, ErrFrameTooBig", n, err)
	}
	n, err = a.Write([]nic.Frame{{Data: make([]byte, 60), Meta: nic.Meta{Csum: nic.CsumPartial}}})
	if n != 0 || !errors.Is(err, nic.ErrOffloadUnsupported) {
		t.Fatalf("Write with Meta = %d, %v; want 0, ErrOffloadUnsupported", n, err)
	}
	if f, ok := b.TryRead(); !ok || len(f) != 114 {
		t.Fatalf("first readable frame has %d bytes (ok %v), want the 114-byte one", len(f), ok)
	}
	if _, ok := b.TryRead(); ok {
		t.Fatal("a rejected frame was delivered")
	}
}

func TestPipe_Read_RejectsShortBuffer(t *testing.T) {
	a, b := nic.NewPipe(nic.PipeConfig{})
	defer a.Close()
	send(t, a, 0, 1)
	if _, err := b.Read([]nic.Frame{{Data: make([]byte, 0, 100)}}); err == nil {
		t.Fatal("Read into a 100-byte buffer succeeded, want an error")
	}
	if got := drain(t, b); len(got) != 1 {
		t.Fatalf("the frame was lost by the failed Read: %v", got)
	}
}

func BenchmarkPipe_WriteRead(b *testing.B) {
	x, y := nic.NewPipe(nic.PipeConfig{})
	defer x.Close()
	out := make([]nic.Frame, 64)
	in := make([]nic.Frame, 64)
	for i := range out {
		out[i].Data = make([]byte, 1514)
		in[i].Data = make([]byte, 0, 1514)
	}
	b.SetBytes(64 * 1514)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.Write(out); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < 64; {
			n, err := y.Read(in)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}

// An IP pipe carries bare packets, as a TUN does: no MACs, MaxFrame equal
// to the MTU, and the impairments work as on an Ethernet pipe.
func TestPipe_IPLink_InfoSizesAndImpairments(t *testing.T) {
	clk := clock.NewManual(epoch)
	a, b := nic.NewPipe(nic.PipeConfig{Link: nic.LinkIP, MTU: 100, Seed: 3, Clock: clk,
		AtoB: nic.Impairment{Duplicate: 1, Delay: time.Millisecond}})
	defer a.Close()
	for _, e := range []*nic.PipeEnd{a, b} {
		if i := e.Info(); i.Link != nic.LinkIP || i.MAC != ([6]byte{}) || i.MTU != 100 || i.MaxFrame != 100 || i.Link.HeaderLen() != 0 {
			t.Fatalf("%s: Info() = %+v, want an IP link: no MAC, MaxFrame 100", i.Name, i)
		}
	}
	n, err := a.Write([]nic.Frame{{Data: make([]byte, 100)}, {Data: make([]byte, 101)}})
	if n != 1 || !errors.Is(err, nic.ErrFrameTooBig) {
		t.Fatalf("Write of 100 and 101 bytes = %d, %v; want 1, ErrFrameTooBig", n, err)
	}
	if _, ok := b.TryRead(); ok {
		t.Fatal("a packet was readable before the Delay")
	}
	clk.Advance(time.Millisecond)
	for i := range 2 {
		if f, ok := b.TryRead(); !ok || len(f) != 100 {
			t.Fatalf("copy %d: %d bytes (ok %v), want the 100-byte packet twice", i, len(f), ok)
		}
	}
	if s := a.Stats(); s != (nic.PipeStats{Sent: 1, Delivered: 2, Duplicated: 1}) {
		t.Fatalf("stats %+v", s)
	}
	if i := nic.LinkEthernet; i.HeaderLen() != 14 {
		t.Fatalf("Ethernet HeaderLen %d, want 14", i.HeaderLen())
	}
}

func TestNewPipe_IPLinkWithMAC_Panics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewPipe(LinkIP with a MAC) did not panic")
		}
	}()
	nic.NewPipe(nic.PipeConfig{Link: nic.LinkIP, MACA: [6]byte{2, 0, 0, 0, 0, 1}})
}

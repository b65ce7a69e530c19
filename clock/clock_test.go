package clock

import (
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestManual_FiresInDeadlineOrderAtTheirTimes(t *testing.T) {
	m := NewManual(epoch)
	var got []string
	var at []time.Duration
	rec := func(s string) func() {
		return func() { got = append(got, s); at = append(at, m.Now().Sub(epoch)) }
	}
	m.AfterFunc(3*time.Second, rec("c"))
	m.AfterFunc(1*time.Second, rec("a"))
	m.AfterFunc(2*time.Second, rec("b1"))
	m.AfterFunc(2*time.Second, rec("b2"))
	m.Advance(1500 * time.Millisecond)
	if len(got) != 1 || got[0] != "a" || at[0] != time.Second {
		t.Fatalf("after 1.5s: fired %v at %v, want [a] at [1s]", got, at)
	}
	m.Advance(10 * time.Second)
	want := []string{"a", "b1", "b2", "c"}
	if len(got) != len(want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fired %v, want %v", got, want)
		}
	}
	if at[3] != 3*time.Second {
		t.Fatalf("c fired at %v, want 3s", at[3])
	}
	if m.Now().Sub(epoch) != 11500*time.Millisecond {
		t.Fatalf("clock reads %v", m.Now().Sub(epoch))
	}
}

func TestManual_StopAndReset(t *testing.T) {
	m := NewManual(epoch)
	fired := 0
	tm := m.AfterFunc(time.Second, func() { fired++ })
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if tm.Stop() {
		t.Fatal("second Stop returned true")
	}
	m.Advance(2 * time.Second)
	if fired != 0 {
		t.Fatal("stopped timer fired")
	}
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a stopped timer reported pending")
	}
	m.Advance(999 * time.Millisecond)
	if fired != 0 {
		t.Fatal("fired early")
	}
	m.Advance(time.Millisecond)
	if fired != 1 {
		t.Fatalf("fired %d times, want 1", fired)
	}
}

func TestManual_CallbackArmsDueTimer(t *testing.T) {
	m := NewManual(epoch)
	n := 0
	var tick func()
	tick = func() {
		n++
		if n < 5 {
			m.AfterFunc(time.Second, tick)
		}
	}
	m.AfterFunc(time.Second, tick)
	m.Advance(10 * time.Second)
	if n != 5 {
		t.Fatalf("periodic timer ran %d times, want 5", n)
	}
	if m.Pending() != 0 {
		t.Fatalf("%d timers left", m.Pending())
	}
}

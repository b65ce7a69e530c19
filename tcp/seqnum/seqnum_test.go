package seqnum

import "testing"

func TestCompare_AcrossWraparound(t *testing.T) {
	const top = Value(0xffff_fff0)
	cases := []struct {
		v, w       Value
		lt, le, gt bool
	}{
		{1, 2, true, true, false},
		{2, 1, false, false, true},
		{5, 5, false, true, false},
		{top, 0x10, true, true, false}, // top comes before a small number past the wrap
		{0x10, top, false, false, true},
		{0, 0x7fff_ffff, true, true, false},
	}
	for _, c := range cases {
		if c.v.LessThan(c.w) != c.lt || c.v.LessThanEq(c.w) != c.le || c.v.GreaterThan(c.w) != c.gt ||
			c.v.GreaterThanEq(c.w) != !c.lt {
			t.Errorf("compare(%#x, %#x) wrong", c.v, c.w)
		}
	}
}

func TestWindow_AcrossWraparound(t *testing.T) {
	first := Value(0xffff_ff00)
	for _, c := range []struct {
		v    Value
		want bool
	}{{first, true}, {first - 1, false}, {0, true}, {0xff, true}, {0x100, false}} {
		if got := c.v.InWindow(first, 0x200); got != c.want {
			t.Errorf("%#x in [%#x, +0x200) = %v, want %v", c.v, first, got, c.want)
		}
	}
	if Value(5).InWindow(5, 0) {
		t.Error("nothing is inside a zero window")
	}
	if first.Size(first.Add(300)) != 300 || first.Add(300).Sub(300) != first {
		t.Error("Add/Sub/Size do not round-trip across the wrap")
	}
	if Max(first, 3) != 3 || Min(first, 3) != first {
		t.Error("Max/Min wrong across the wrap")
	}
	if !Overlap(first, 0x100, 0xf0, 0x20) == false || !Overlap(first, 0x200, 0xf0, 0x20) || Overlap(first, 0x100, 0, 0) {
		t.Error("Overlap wrong")
	}
}

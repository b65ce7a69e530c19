package bitmap

import "testing"

// Runs that start and end inside a word, span words and run past the end:
// Count agrees with a bit-by-bit count after Set.
func TestSetCount_AgreeWithBitByBit(t *testing.T) {
	for _, r := range [][2]int{{0, 1}, {3, 9}, {60, 70}, {0, 128}, {64, 65}, {100, 192}, {5, 5}} {
		bm := make([]uint64, 3)
		Set(bm, r[0], r[1])
		for i := range 192 {
			want := i >= r[0] && i < r[1]
			if got := bm[i/64]>>(i%64)&1 == 1; got != want {
				t.Fatalf("Set(%d, %d): bit %d is %v", r[0], r[1], i, got)
			}
		}
		for _, q := range [][2]int{{0, 192}, {r[0], r[1]}, {r[0] + 1, r[1] + 7}, {150, 400}} {
			want := 0
			for i := q[0]; i < min(q[1], 192); i++ {
				if i >= r[0] && i < r[1] {
					want++
				}
			}
			if got := Count(bm, q[0], q[1]); got != want {
				t.Errorf("after Set(%d, %d): Count(%d, %d) = %d, want %d", r[0], r[1], q[0], q[1], got, want)
			}
		}
	}
}

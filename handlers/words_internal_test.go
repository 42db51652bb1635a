package handlers

import (
	"testing"
	"time"
)

func TestWaitMinutes(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{0, 1}, {time.Second, 1}, {time.Minute, 1}, {time.Minute + time.Second, 2}, {599 * time.Second, 10}, {10 * time.Minute, 10},
	} {
		if got := waitMinutes(tc.d); got != tc.want {
			t.Errorf("waitMinutes(%s) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestJSONFieldName(t *testing.T) {
	for path, want := range map[string]string{
		"quoteRequest.amount_fen": "amount_fen", "amount_fen": "amount_fen", "a.b.c": "c", "": "（未知）", "x.": "（未知）",
	} {
		if got := jsonFieldName(path); got != want {
			t.Errorf("jsonFieldName(%q) = %q, want %q", path, got, want)
		}
	}
}

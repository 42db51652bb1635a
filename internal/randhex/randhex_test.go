package randhex

import (
	"encoding/hex"
	"testing"
)

func TestNewIsHexOfNBytesAndVaries(t *testing.T) {
	a, b := New(16), New(16)
	if len(a) != 32 {
		t.Fatalf("New(16) has %d digits, want 32", len(a))
	}
	if _, err := hex.DecodeString(a); err != nil {
		t.Fatalf("New(16) = %q is not hex: %v", a, err)
	}
	if a == b {
		t.Fatalf("two calls gave the same %q", a)
	}
}

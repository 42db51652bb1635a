package config

import (
	"log/slog"
	"strings"
	"time"
)

// Bounds of GASPAY_ORDER_TTL. WeChat Pay refuses a time_expire less than one
// minute after the order reaches it; an order's expiry is cut to the second
// and its prepay may be sent again (a retry of the same order) a little
// later, so the shortest life leaves a second minute for that. The longest
// is the life of a JSAPI prepay_id.
const (
	MinOrderTTL = 2 * time.Minute
	MaxOrderTTL = 2 * time.Hour
)

// publishedBoxKeys are box master keys printed in gaspay's documentation
// (the test vectors of spec/box-protocol.md, the sandbox's key) and tests.
// They are public: a box or server holding one protects nothing. A test
// scans the repository and fails if a 64-hex-digit string there is missing
// from this list.
var publishedBoxKeys = []string{
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", // spec test vectors, sandbox
	"ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", // bleproxy handshake tests
	"f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f", // cmd/boxsim -fault wrong-key
}

// PublishedBoxKey reports whether hexKey is one of the published keys.
func PublishedBoxKey(hexKey string) bool {
	k := strings.ToLower(strings.TrimSpace(hexKey))
	for _, p := range publishedBoxKeys {
		if k == p {
			return true
		}
	}
	return false
}

// LogAttrs is the effective configuration as log attributes, one per
// variable, secrets masked: what an operator needs to see what a replica
// runs with.
func (c Config) LogAttrs() []any {
	out := make([]any, 0, len(c.Settings))
	for _, s := range c.Settings {
		v := s.Value
		switch {
		case s.Default && v == "":
			v = "(unset)"
		case s.Default:
			v += " (default)"
		}
		out = append(out, slog.String(s.Name, v))
	}
	return out
}

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
	SandboxMeterMasterKey, // docs/meter-protocol.md test vectors, the sandbox's meter key
	// Not keys but public 64-hex-digit strings all the same: the REPORT
	// plaintexts of docs/meter-protocol.md.
	"0000000003010000162e0001e240000e10ffa169279480000000000000000000",
	"02000000040100003d3e0001e240000e10ffa1692796d8000000010100000004",
	// And the partner signatures of partner/partner_test.go's vectors.
	"f240e71d71fc067117a6b37617f30e015e9527997397d2473bf9d37213e7204f",
	"874ef1484515ae89d6a336f1e6457aae212463a4848a8e3ea33aab12971bb03b",
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

package recharge

import (
	"errors"
	"testing"
)

func TestCodeProviderFor(t *testing.T) {
	tests := []struct {
		code, want string
	}{
		{"100000000000000000", "wechat"},
		{"154567890123456789", "wechat"},
		{"160000000000000000", ""},             // 16 is nobody's
		{"09456789012345678", ""},              // 17 digits, 09
		{"13456789012345678", ""},              // WeChat's are 18 digits exactly
		{"1345678901234567890", ""},            // 19
		{"2500000000000000", "alipay"},         // 16 digits
		{"300000000000000000000000", "alipay"}, // 24
		{"2400000000000000", ""},
		{"310000000000000000", ""},
		{"2500000000000000000000000", ""}, // 25 digits
		{"25000000000000O0", ""},          // a letter
		{"", ""},
	}
	for _, tt := range tests {
		got, err := CodeProviderFor(tt.code)
		if got != tt.want || (tt.want == "") != errors.Is(err, ErrBadAuthCode) {
			t.Errorf("%q: %q, %v; want %q", tt.code, got, err, tt.want)
		}
	}
}

package bleproxy_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"testing"

	"gaspay/bleproxy"
)

func TestParseCardImageRejects(t *testing.T) {
	v := loadVectors(t)
	tests := []struct {
		name   string
		mutate func(b []byte) []byte
		want   error
	}{
		{"genuine", func(b []byte) []byte { return b }, nil},
		{"63 bytes", func(b []byte) []byte { return b[:63] }, bleproxy.ErrBadCardImage},
		{"65 bytes", func(b []byte) []byte { return append(b, 0) }, bleproxy.ErrBadCardImage},
		{"magic", func(b []byte) []byte { b[1] = 'B'; return b }, bleproxy.ErrBadCardImage},
		{"layout version 0", func(b []byte) []byte { b[2] = 0; return b }, bleproxy.ErrBadCardImage},
		{"layout version 2", func(b []byte) []byte { b[2] = 2; return b }, bleproxy.ErrBadCardImage},
		{"card type 0", func(b []byte) []byte { b[3] = 0; return b }, bleproxy.ErrBadCardImage},
		{"card type 3", func(b []byte) []byte { b[3] = 3; return b }, bleproxy.ErrBadCardImage},
		{"user number space", func(b []byte) []byte { b[4] = ' '; return b }, bleproxy.ErrBadCardImage},
		{"user number NUL", func(b []byte) []byte { b[15] = 0; return b }, bleproxy.ErrBadCardImage},
		{"user number letter", func(b []byte) []byte { b[10] = 'a'; return b }, bleproxy.ErrBadCardImage},
		{"state 2", func(b []byte) []byte { b[30] = 2; return b }, bleproxy.ErrBadCardImage},
		{"reserved first", func(b []byte) []byte { b[43] = 1; return b }, bleproxy.ErrBadCardImage},
		{"reserved last", func(b []byte) []byte { b[55] = 0x80; return b }, bleproxy.ErrBadCardImage},
		// The MAC is not ParseCardImage's business.
		{"mac ignored", func(b []byte) []byte { b[63] ^= 1; return b }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := v.image // a copy per case
			b := tt.mutate(raw[:])
			img, err := bleproxy.ParseCardImage(b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && img != (bleproxy.CardImage{}) {
				t.Errorf("image %+v returned with error", img)
			}
		})
	}
}

func TestVerifyCardImageRejects(t *testing.T) {
	v := loadVectors(t)
	otherCard := bleproxy.DeriveCardKey(v.master, bleproxy.CardSerial{0, 0, 0, 0, 0x12, 0x34, 0x56, 0x79})
	tests := []struct {
		name   string
		key    bleproxy.Key
		mutate func(b *[64]byte)
		want   error
	}{
		{"genuine", v.kcard, func(*[64]byte) {}, nil},
		{"another card's key", otherCard, func(*[64]byte) {}, bleproxy.ErrBadCardMAC},
		{"box key", v.kbox, func(*[64]byte) {}, bleproxy.ErrBadCardMAC},
		{"credit raised", v.kcard, func(b *[64]byte) { b[29] = 0xff }, bleproxy.ErrBadCardMAC},
		{"state flipped", v.kcard, func(b *[64]byte) { b[30] = 1 }, bleproxy.ErrBadCardMAC},
		{"reserved", v.kcard, func(b *[64]byte) { b[50] = 1 }, bleproxy.ErrBadCardMAC},
		{"mac first byte", v.kcard, func(b *[64]byte) { b[56] ^= 1 }, bleproxy.ErrBadCardMAC},
		{"mac last byte", v.kcard, func(b *[64]byte) { b[63] ^= 1 }, bleproxy.ErrBadCardMAC},
		{"mac zero", v.kcard, func(b *[64]byte) { clear(b[56:]) }, bleproxy.ErrBadCardMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := v.image
			tt.mutate(&raw)
			if err := bleproxy.VerifyCardImage(tt.key, raw); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("OpenCardImage with a forged serial", func(t *testing.T) {
		raw := v.image
		raw[23] = 0x79 // claims another card: derives another key
		if _, _, err := bleproxy.OpenCardImage(v.master, raw); !errors.Is(err, bleproxy.ErrBadCardMAC) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("OpenCardImage with a valid mac on bad fields", func(t *testing.T) {
		// Whoever holds K_card can MAC anything; a genuine MAC over a
		// malformed image must still be refused.
		raw := v.image
		raw[30] = 7
		m := hmac.New(sha256.New, v.kcard[:])
		m.Write(raw[:56])
		copy(raw[56:], m.Sum(nil)[:8])
		if err := bleproxy.VerifyCardImage(v.kcard, raw); err != nil {
			t.Fatalf("test MAC wrong: %v", err)
		}
		if _, _, err := bleproxy.OpenCardImage(v.master, raw); !errors.Is(err, bleproxy.ErrBadCardImage) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestCardImageSealRejects(t *testing.T) {
	v := loadVectors(t)
	tests := []struct {
		name   string
		mutate func(c *bleproxy.CardImage)
	}{
		{"empty user number", func(c *bleproxy.CardImage) { c.UserNumber = "" }},
		{"13 digits", func(c *bleproxy.CardImage) { c.UserNumber = "1234567890123" }},
		{"letters", func(c *bleproxy.CardImage) { c.UserNumber = "03114008A" }},
		{"sign", func(c *bleproxy.CardImage) { c.UserNumber = "-31140086" }},
		{"full-width digits", func(c *bleproxy.CardImage) { c.UserNumber = "０３１" }},
		{"card type 0", func(c *bleproxy.CardImage) { c.CardType = 0 }},
		{"card type 3", func(c *bleproxy.CardImage) { c.CardType = 3 }},
		{"state 2", func(c *bleproxy.CardImage) { c.State = 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := v.imageFields
			tt.mutate(&c)
			if _, err := c.Seal(v.kcard); !errors.Is(err, bleproxy.ErrBadCardImage) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestUserNumber(t *testing.T) {
	v := loadVectors(t)
	tests := []struct {
		account string
		match   bool
	}{
		{"031140086", true},
		{"31140086", true}, // the padding makes these equal; see HasUserNumber
		{"000031140086", true},
		{"031140087", false},
		{"0031140086", true},
		{"", false},
		{"0311400860", false},
		{"03114008x", false},
		{"1031140086000", false},
	}
	for _, tt := range tests {
		t.Run(tt.account, func(t *testing.T) {
			if got := v.imageFields.HasUserNumber(tt.account); got != tt.match {
				t.Errorf("HasUserNumber(%q) = %v", tt.account, got)
			}
		})
	}
	if got, err := bleproxy.CanonicalUserNumber("031140086"); err != nil || got != "000031140086" {
		t.Errorf("CanonicalUserNumber = %q, %v", got, err)
	}
}

func TestNextPurchaseRefusesPendingCard(t *testing.T) {
	v := loadVectors(t)
	if _, err := v.newImageFields.NextPurchase(1); !errors.Is(err, bleproxy.ErrCardPending) {
		t.Errorf("err = %v", err)
	}
	full := v.imageFields
	full.Seq = 0xffff
	if _, err := full.NextPurchase(1); !errors.Is(err, bleproxy.ErrBadCardImage) {
		t.Errorf("err = %v", err)
	}
}

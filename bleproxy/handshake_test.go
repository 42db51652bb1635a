package bleproxy_test

import (
	"errors"
	"testing"

	"gaspay/bleproxy"
)

func TestVerifyHelloRejects(t *testing.T) {
	v := loadVectors(t)
	otherKey := bleproxy.DeriveBoxKey(v.master, bleproxy.BoxID{0x47, 0x42, 0, 0, 0, 0, 0, 2})
	tests := []struct {
		name   string
		key    bleproxy.Key
		mutate func(f *bleproxy.Frame)
		want   error
	}{
		{"genuine", v.kbox, func(*bleproxy.Frame) {}, nil},
		{"other box's key", otherKey, func(*bleproxy.Frame) {}, bleproxy.ErrBadMAC},
		{"counter changed", v.kbox, func(f *bleproxy.Frame) { f.Counter = 8 }, bleproxy.ErrBadMAC},
		{"box id changed", v.kbox, func(f *bleproxy.Frame) { f.BoxID[7] = 2 }, bleproxy.ErrBadMAC},
		{"nonce changed", v.kbox, func(f *bleproxy.Frame) { f.Body[0] ^= 1 }, bleproxy.ErrBadMAC},
		{"firmware changed", v.kbox, func(f *bleproxy.Frame) { f.Body[17] ^= 1 }, bleproxy.ErrBadMAC},
		{"mac changed", v.kbox, func(f *bleproxy.Frame) { f.Body[33] ^= 1 }, bleproxy.ErrBadMAC},
		{"body short", v.kbox, func(f *bleproxy.Frame) { f.Body = f.Body[:33] }, bleproxy.ErrBadBody},
		{"body long", v.kbox, func(f *bleproxy.Frame) { f.Body = append(f.Body, 0) }, bleproxy.ErrBadBody},
		{"not HELLO", v.kbox, func(f *bleproxy.Frame) { f.Type = bleproxy.TypeSession }, bleproxy.ErrUnexpectedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseFrameHex(t, vecHello)
			tt.mutate(&f)
			_, err := bleproxy.VerifyHello(tt.key, f)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestServerHandshakeRejects(t *testing.T) {
	v := loadVectors(t)
	other, _ := bleproxy.ParseMasterKey("ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	tests := []struct {
		name   string
		master bleproxy.MasterKey
		frame  string
		last   uint32
		nonce  bleproxy.Nonce
		want   error
	}{
		{"first HELLO of a box", v.master, vecHello, 0, v.serverNonce, nil},
		{"counter above stored", v.master, vecHello, 6, v.serverNonce, nil},
		{"replayed HELLO", v.master, vecHello, 7, v.serverNonce, bleproxy.ErrReplay},
		{"older HELLO", v.master, vecHello, 100, v.serverNonce, bleproxy.ErrReplay},
		{"another master", other, vecHello, 0, v.serverNonce, bleproxy.ErrBadMAC},
		{"zero server nonce", v.master, vecHello, 0, bleproxy.Nonce{}, bleproxy.ErrBadNonce},
		{"SESSION is not a HELLO", v.master, vecSession, 0, v.serverNonce, bleproxy.ErrUnexpectedType},
		{"sealed frame", v.master, vecCard, 0, v.serverNonce, bleproxy.ErrUnexpectedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, err := bleproxy.ServerHandshake(tt.master, parseFrameHex(t, tt.frame), tt.last, tt.nonce)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && keyHex(hs.Session.Key) != vecKSess {
				t.Errorf("K_sess = %s", keyHex(hs.Session.Key))
			}
			if errors.Is(err, bleproxy.ErrReplay) && !errors.Is(err, bleproxy.ErrCounter) {
				t.Errorf("ErrReplay does not match ErrCounter")
			}
		})
	}
}

func TestVerifySessionRejects(t *testing.T) {
	v := loadVectors(t)
	oldNonce := v.boxNonce
	oldNonce[15] ^= 1
	tests := []struct {
		name     string
		boxNonce bleproxy.Nonce
		id       bleproxy.BoxID
		mutate   func(f *bleproxy.Frame)
		want     error
	}{
		{"genuine", v.boxNonce, v.boxID, func(*bleproxy.Frame) {}, nil},
		{"answers another HELLO", oldNonce, v.boxID, func(*bleproxy.Frame) {}, bleproxy.ErrBadMAC},
		{"for another box", v.boxNonce, bleproxy.BoxID{1}, func(*bleproxy.Frame) {}, bleproxy.ErrWrongBox},
		{"server nonce changed", v.boxNonce, v.boxID, func(f *bleproxy.Frame) { f.Body[3] ^= 1 }, bleproxy.ErrBadMAC},
		{"mac changed", v.boxNonce, v.boxID, func(f *bleproxy.Frame) { f.Body[31] ^= 0x80 }, bleproxy.ErrBadMAC},
		{"counter not 0", v.boxNonce, v.boxID, func(f *bleproxy.Frame) { f.Counter = 1 }, bleproxy.ErrCounter},
		{"body short", v.boxNonce, v.boxID, func(f *bleproxy.Frame) { f.Body = f.Body[:31] }, bleproxy.ErrBadBody},
		{"not SESSION", v.boxNonce, v.boxID, func(f *bleproxy.Frame) { f.Type = bleproxy.TypeHello }, bleproxy.ErrUnexpectedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseFrameHex(t, vecSession)
			tt.mutate(&f)
			_, err := bleproxy.VerifySession(v.kbox, tt.id, tt.boxNonce, f)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

package bleproxy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gaspay/bleproxy"
)

func TestParseMasterKey(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"vector", vecMaster, true},
		{"upper case", strings.ToUpper(vecMaster), true},
		{"trailing newline", vecMaster + "\n", true},
		{"surrounding spaces", "  " + vecMaster + "\t", true},
		{"empty", "", false},
		{"31 bytes", vecMaster[:62], false},
		{"33 bytes", vecMaster + "20", false},
		{"not hex", "zz" + vecMaster[2:], false},
		{"inner space", vecMaster[:30] + " " + vecMaster[31:], false},
		{"all zeros", strings.Repeat("0", 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := bleproxy.ParseMasterKey(tt.in)
			if tt.ok {
				if err != nil || m.IsZero() {
					t.Fatalf("err = %v", err)
				}
				v := loadVectors(t)
				if got := keyHex(bleproxy.DeriveBoxKey(m, v.boxID)); got != vecKBox {
					t.Errorf("derived %s", got)
				}
				return
			}
			if !errors.Is(err, bleproxy.ErrBadKey) || !m.IsZero() {
				t.Fatalf("err = %v, zero = %v", err, m.IsZero())
			}
			// The error must not echo the secret, not even a part of it.
			if len(tt.in) >= 8 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)[:8]) {
				t.Errorf("error %q repeats the input", err)
			}
		})
	}
}

func TestNewMasterKey(t *testing.T) {
	b := unhex(t, vecMaster)
	m, err := bleproxy.NewMasterKey(b)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff // the key must have copied its input
	v := loadVectors(t)
	if got := keyHex(bleproxy.DeriveBoxKey(m, v.boxID)); got != vecKBox {
		t.Errorf("derived %s after caller changed its buffer", got)
	}
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := bleproxy.NewMasterKey(make([]byte, n)); !errors.Is(err, bleproxy.ErrBadKey) {
			t.Errorf("%d bytes: err = %v", n, err)
		}
	}
}

func TestMasterKeyUnmarshalText(t *testing.T) {
	var cfg struct{ Master bleproxy.MasterKey }
	if err := json.Unmarshal([]byte(`{"Master":"`+vecMaster+`"}`), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Master.IsZero() {
		t.Fatal("not parsed")
	}
	if err := json.Unmarshal([]byte(`{"Master":"00"}`), &cfg); !errors.Is(err, bleproxy.ErrBadKey) {
		t.Errorf("err = %v", err)
	}
}

func TestZeroMasterKeyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("deriving from a zero MasterKey did not panic")
		}
	}()
	bleproxy.DeriveCardKey(bleproxy.MasterKey{}, bleproxy.CardSerial{})
}

// TestSecretsRedacted prints keys every way a careless log line might, and
// checks no key material comes out.
func TestSecretsRedacted(t *testing.T) {
	v := loadVectors(t)
	type exported struct {
		Master bleproxy.MasterKey
		Key    bleproxy.Key
		Sess   bleproxy.Session
	}
	type unexported struct {
		master bleproxy.MasterKey
	}
	sess := bleproxy.Session{BoxID: v.boxID, Key: v.ksess, Role: bleproxy.RoleServer}
	values := map[string]any{
		"master":            v.master,
		"*master":           &v.master,
		"key":               v.kbox,
		"*key":              &v.kbox,
		"session":           sess,
		"exported fields":   exported{v.master, v.kcard, sess},
		"unexported master": unexported{v.master},
		"slice of keys":     []bleproxy.Key{v.kbox, v.kcard},
	}
	// Fragments of the secrets as they would appear in hex or decimal.
	secrets := []string{
		vecMaster[:16], vecMaster[32:48], vecKBox[:12], vecKSess[:12], vecKCard[:12],
		"[0 1 2 3", "151 101 231", "123 180 244", "55 227 103",
	}
	check := func(t *testing.T, out string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(strings.ToLower(out), s) {
				t.Errorf("output contains key material %q: %s", s, out)
			}
		}
	}
	for name, val := range values {
		t.Run(name, func(t *testing.T) {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
				check(t, fmt.Sprintf(verb, val))
			}
			check(t, fmt.Sprint(val))
			if b, err := json.Marshal(val); err == nil {
				check(t, string(b))
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", val)
			slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", val)
			check(t, buf.String())
		})
	}
	for name, got := range map[string]string{
		"Sprint(master)":    fmt.Sprint(v.master),
		"master.String":     v.master.String(),
		"master.GoString":   v.master.GoString(),
		"key.String":        v.kbox.String(),
		"key.GoString":      v.kbox.GoString(),
		"key.LogValue":      v.kbox.LogValue().String(),
		"master.LogValue":   v.master.LogValue().String(),
		"Sprintf(%x, &key)": fmt.Sprintf("%x", &v.kbox),
	} {
		if got != "[redacted]" {
			t.Errorf("%s = %q", name, got)
		}
	}
}

func TestKeyFromBytes(t *testing.T) {
	k, err := bleproxy.KeyFromBytes(unhex(t, vecKBox))
	if err != nil || keyHex(k) != vecKBox || !bytes.Equal(k.Bytes(), unhex(t, vecKBox)) || k.IsZero() {
		t.Fatalf("%v", err)
	}
	if _, err := bleproxy.KeyFromBytes(make([]byte, 15)); !errors.Is(err, bleproxy.ErrBadKey) {
		t.Errorf("err = %v", err)
	}
	pk, err := bleproxy.ParseKey(vecKBox + "\n")
	if err != nil || pk != k {
		t.Errorf("ParseKey: %v", err)
	}
	if _, err := bleproxy.ParseKey(vecKBox[:30]); !errors.Is(err, bleproxy.ErrBadKey) {
		t.Errorf("err = %v", err)
	}
	if !(bleproxy.Key{}).IsZero() {
		t.Error("zero key not zero")
	}
}

func TestNewNonce(t *testing.T) {
	a, err := bleproxy.NewNonce(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := bleproxy.NewNonce(nil)
	if a == b || a == (bleproxy.Nonce{}) {
		t.Error("crypto/rand nonces repeat or are zero")
	}
	if _, err := bleproxy.NewNonce(bytes.NewReader(make([]byte, 15))); err == nil {
		t.Error("short reader accepted")
	}
}

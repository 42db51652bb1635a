package bleproxy_test

import (
	"testing"

	"gaspay/bleproxy"
)

// BenchmarkSealOpen measures the per-frame crypto cost the relay pays for a
// CARD frame (65-byte plaintext): seal on one end, open on the other.
// "wire" adds Marshal and ParseFrame, the full cost per relayed frame.
func BenchmarkSealOpen(b *testing.B) {
	v := loadVectors(b)
	pt, err := bleproxy.CardBody{Status: bleproxy.CardPresent, Image: v.image}.Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("crypto", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pt)))
		for i := 0; b.Loop(); i++ {
			f, err := bleproxy.Seal(v.ksess, bleproxy.BoxToServer, bleproxy.TypeCard, v.boxID, uint32(i)+1, pt)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := bleproxy.Open(v.ksess, bleproxy.BoxToServer, f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wire", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pt)))
		box := bleproxy.Session{BoxID: v.boxID, Key: v.ksess, Role: bleproxy.RoleBox}
		server := bleproxy.Session{BoxID: v.boxID, Key: v.ksess, Role: bleproxy.RoleServer}
		for b.Loop() {
			f, err := box.Seal(bleproxy.TypeCard, pt)
			if err != nil {
				b.Fatal(err)
			}
			g, err := bleproxy.ParseFrame(f.Marshal())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := server.OpenMessage(g); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHandshake measures a handshake: "server" is what the relay does
// per HELLO (derive K_box, verify, build SESSION, derive K_sess); "both"
// adds the box building HELLO and verifying SESSION.
func BenchmarkHandshake(b *testing.B) {
	v := loadVectors(b)
	hello := bleproxy.BuildHello(v.kbox, v.boxID, vecHelloCounter, v.boxNonce, vecFirmware)
	b.Run("server", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bleproxy.ServerHandshake(v.master, hello, 0, v.serverNonce); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("both", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			h := bleproxy.BuildHello(v.kbox, v.boxID, uint32(i)+1, v.boxNonce, vecFirmware)
			hs, err := bleproxy.ServerHandshake(v.master, h, uint32(i), v.serverNonce)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := bleproxy.VerifySession(v.kbox, v.boxID, v.boxNonce, hs.Reply); err != nil {
				b.Fatal(err)
			}
		}
	})
}

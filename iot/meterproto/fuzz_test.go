package meterproto_test

import (
	"bytes"
	"testing"

	"gaspay/bleproxy"
	"gaspay/iot/meterproto"
)

// FuzzParse: Parse never panics, and what it accepts marshals back to
// exactly its input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{vecReport, vecRecharge, vecAnswer} {
		f.Add(unhex(f, s))
	}
	f.Add([]byte("GM\x01\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := meterproto.Parse(b)
		if err != nil {
			return
		}
		if got := m.Marshal(); !bytes.Equal(got, b) {
			t.Fatalf("round trip\n got %x\nwant %x", got, b)
		}
	})
}

// FuzzOpenReport: the server's decoder of what the platform pushes never
// panics, and accepts only what the meter's key sealed (the seed corpus is
// all that verifies; a mutation that still verifies would be a forgery).
func FuzzOpenReport(f *testing.F) {
	k := vecKey(f)
	for _, s := range []string{vecReport, vecAnswer, vecRecharge} {
		f.Add(unhex(f, s))
	}
	valid := map[string]bool{vecReport: true, vecAnswer: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, r, err := meterproto.OpenReport(b, func(string) bleproxy.Key { return k })
		if err != nil {
			return
		}
		if !valid[bytesHex(b)] {
			t.Fatalf("accepted a report the key did not seal: %x", b)
		}
		pt, err := r.MarshalBinary()
		if err != nil || len(pt) != meterproto.ReportSize {
			t.Fatalf("accepted report does not re-encode: %v", err)
		}
	})
}

// FuzzReportPlaintext: decoding a plaintext never panics, and an accepted
// one re-encodes to the same bytes.
func FuzzReportPlaintext(f *testing.F) {
	f.Add(unhex(f, vecReportPT))
	f.Add(unhex(f, vecAnswerPT))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r meterproto.Report
		if r.UnmarshalBinary(b) != nil {
			return
		}
		got, err := r.MarshalBinary()
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("round trip %x → %x (%v)", b, got, err)
		}
	})
}

// FuzzRechargePlaintext: likewise for the meter's decoder.
func FuzzRechargePlaintext(f *testing.F) {
	f.Add(unhex(f, vecRechargePT))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r meterproto.Recharge
		if r.UnmarshalBinary(b) != nil {
			return
		}
		got, err := r.MarshalBinary()
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("round trip %x → %x (%v)", b, got, err)
		}
	})
}

func bytesHex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

package meterproto_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"gaspay/bleproxy"
	"gaspay/config"
	"gaspay/iot/meterproto"
)

// The test vectors of docs/meter-protocol.md, copied verbatim.
const (
	vecMaster      = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
	vecMeter       = "20231100001"
	vecKMeter      = "a2cc339649999a9374df7026433361c9"
	vecReportPT    = "0000000003010000162e0001e240000e10ffa169279480000000000000000000"
	vecReport      = "474d01010b3230323331313030303031000000290030ddb9e85d3d4b51dc36607c69230e912efead75deea60b56ea673f17d185d93a3fcf902f69b76eb1846c730fed789a377"
	vecRechargePT  = "00000004010000271001692a37800000"
	vecRecharge    = "474d01020b3230323331313030303031000000010020e1f31017f27bfd4b2c10460b313100e380b786885b0560fa7825c2597d2e7db3"
	vecAnswerPT    = "02000000040100003d3e0001e240000e10ffa1692796d8000000010100000004"
	vecAnswer      = "474d01010b32303233313130303030310000002a0030ab2e17d7f9ec38f39f625eed68f9eb37b5d498eb7d860bc9edfd36aa7d038b4dfa6c4575c4d9f6a0042dca309ba8b808"
	vecReportTime  = 1764201600
	vecNotAfter    = 1764374400
	vecAnswerTime  = 1764202200
	vecReportCount = 41
)

var (
	vecReportFields = meterproto.Report{Reason: meterproto.ReasonScheduled, LastAppliedSeq: 3, Unit: meterproto.UnitFen,
		Balance: 5678, CumulativeCentiM3: 123456, Valve: meterproto.ValveOpen, BatteryMV: 3600, SignalDBm: -95, MeterTime: vecReportTime}
	vecRechargeFields = meterproto.Recharge{Seq: 4, Unit: meterproto.UnitFen, Credit: 10000, ReopenValve: true, NotAfter: vecNotAfter}
	vecAnswerFields   = meterproto.Report{Reason: meterproto.ReasonAnswer, LastAppliedSeq: 4, Unit: meterproto.UnitFen,
		Balance: 15678, CumulativeCentiM3: 123456, Valve: meterproto.ValveOpen, BatteryMV: 3600, SignalDBm: -95, MeterTime: vecAnswerTime,
		AnsweredCounter: 1, Result: meterproto.ResultApplied, AnsweredSeq: 4}
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vecKey(t testing.TB) bleproxy.Key {
	t.Helper()
	m, err := bleproxy.ParseMasterKey(vecMaster)
	if err != nil {
		t.Fatal(err)
	}
	return meterproto.MeterKey(m, vecMeter)
}

// The sandbox's meter master key is the vectors' key, so the simulator and
// the vectors agree.
func TestSandboxKeyIsTheVectorKey(t *testing.T) {
	if config.SandboxMeterMasterKey != vecMaster {
		t.Fatal("config.SandboxMeterMasterKey is not the document's test-vector key")
	}
}

func TestVectorKey(t *testing.T) {
	if got := hex.EncodeToString(vecKey(t).Bytes()); got != vecKMeter {
		t.Fatalf("K_meter = %s, want %s", got, vecKMeter)
	}
}

func TestVectorsEncode(t *testing.T) {
	k := vecKey(t)
	cases := []struct {
		name string
		pt   []byte
		want string
		msg  func() ([]byte, error)
		wpt  string
	}{
		{"report", nil, vecReport, func() ([]byte, error) { return meterproto.SealReport(k, vecMeter, vecReportCount, vecReportFields) }, vecReportPT},
		{"recharge", nil, vecRecharge, func() ([]byte, error) { return meterproto.SealRecharge(k, vecMeter, 1, vecRechargeFields) }, vecRechargePT},
		{"answer", nil, vecAnswer, func() ([]byte, error) { return meterproto.SealReport(k, vecMeter, vecReportCount+1, vecAnswerFields) }, vecAnswerPT},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.msg()
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != c.want {
				t.Fatalf("sealed\n got %x\nwant %s", got, c.want)
			}
		})
	}
	for name, c := range map[string]struct {
		v    interface{ MarshalBinary() ([]byte, error) }
		want string
	}{"report": {vecReportFields, vecReportPT}, "recharge": {vecRechargeFields, vecRechargePT}, "answer": {vecAnswerFields, vecAnswerPT}} {
		b, err := c.v.MarshalBinary()
		if err != nil || hex.EncodeToString(b) != c.want {
			t.Errorf("%s plaintext %x %v, want %s", name, b, err, c.want)
		}
	}
}

func TestVectorsDecode(t *testing.T) {
	k := vecKey(t)
	keyOf := func(meter string) bleproxy.Key {
		if meter != vecMeter {
			t.Fatalf("key asked for %q", meter)
		}
		return k
	}
	m, r, err := meterproto.OpenReport(unhex(t, vecReport), keyOf)
	if err != nil || r != vecReportFields || m.Counter != vecReportCount || m.Meter != vecMeter {
		t.Fatalf("report %+v %+v %v", m, r, err)
	}
	_, a, err := meterproto.OpenReport(unhex(t, vecAnswer), keyOf)
	if err != nil || a != vecAnswerFields {
		t.Fatalf("answer %+v %v", a, err)
	}
	rm, rc, err := meterproto.OpenRecharge(unhex(t, vecRecharge), k, vecMeter)
	if err != nil || rc != vecRechargeFields || rm.Counter != 1 {
		t.Fatalf("recharge %+v %v", rc, err)
	}
}

// The document and the tests hold the same bytes: a vector changed in one
// place only fails here.
func TestDocumentHoldsTheVectors(t *testing.T) {
	doc, err := os.ReadFile("../../docs/meter-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{vecMaster, vecKMeter, vecReportPT, vecReport, vecRechargePT, vecRecharge, vecAnswerPT, vecAnswer} {
		if !strings.Contains(string(doc), v) {
			t.Errorf("docs/meter-protocol.md lacks %s", v)
		}
	}
}

// Every single-bit change of a sealed message is refused.
func TestTamperedRefused(t *testing.T) {
	k := vecKey(t)
	for _, vec := range []string{vecReport, vecAnswer, vecRecharge} {
		orig := unhex(t, vec)
		for i := range orig {
			for bit := 0; bit < 8; bit += 3 {
				b := bytes.Clone(orig)
				b[i] ^= 1 << bit
				var err error
				if b[3] == byte(meterproto.TypeRecharge) || orig[3] == byte(meterproto.TypeRecharge) {
					_, _, err = meterproto.OpenRecharge(b, k, vecMeter)
				} else {
					_, _, err = meterproto.OpenReport(b, func(string) bleproxy.Key { return k })
				}
				if err == nil {
					t.Fatalf("%s: flipping bit %d of byte %d was accepted", vec[:12], bit, i)
				}
			}
		}
	}
}

func TestWrongKeyAndDirection(t *testing.T) {
	m, _ := bleproxy.ParseMasterKey(strings.Repeat("ab", 32))
	other := meterproto.MeterKey(m, vecMeter)
	if _, _, err := meterproto.OpenReport(unhex(t, vecReport), func(string) bleproxy.Key { return other }); !errors.Is(err, meterproto.ErrBadMAC) {
		t.Fatalf("other master key: %v", err)
	}
	// A recharge presented as a report is refused by type.
	if _, _, err := meterproto.OpenReport(unhex(t, vecRecharge), func(string) bleproxy.Key { return vecKey(t) }); !errors.Is(err, meterproto.ErrType) {
		t.Fatalf("recharge as report: %v", err)
	}
	// Another meter's recharge is refused.
	if _, _, err := meterproto.OpenRecharge(unhex(t, vecRecharge), vecKey(t), "20231100002"); !errors.Is(err, meterproto.ErrMeterNumber) {
		t.Fatalf("another meter: %v", err)
	}
}

// The sequence rule, as a table over the meter model.
func TestSequenceRule(t *testing.T) {
	k := vecKey(t)
	cases := []struct {
		name    string
		last    uint32
		seq     uint32
		now     uint32
		want    meterproto.Result
		balance int32
	}{
		{"next sequence", 3, 4, vecNotAfter, meterproto.ResultApplied, 15678},
		{"delivered twice", 4, 4, vecReportTime, meterproto.ResultAlreadyApplied, 5678},
		{"an old one, late", 9, 4, vecReportTime, meterproto.ResultAlreadyApplied, 5678},
		{"a gap", 2, 4, vecReportTime, meterproto.ResultOutOfSequence, 5678},
		{"past not_after", 3, 4, vecNotAfter + 1, meterproto.ResultExpired, 5678},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &meterproto.Meter{Number: vecMeter, Key: k, ReportCounter: 41, LastAppliedSeq: c.last, Unit: meterproto.UnitFen, Balance: 5678}
			rc := vecRechargeFields
			rc.Seq = c.seq
			b, err := meterproto.SealRecharge(k, vecMeter, 7, rc)
			if err != nil {
				t.Fatal(err)
			}
			res, _, ans, err := m.Apply(b, c.now)
			if err != nil || res != c.want || m.Balance != c.balance {
				t.Fatalf("result %d balance %d err %v; want %d %d", res, m.Balance, err, c.want, c.balance)
			}
			_, r, err := meterproto.OpenReport(ans, func(string) bleproxy.Key { return k })
			if err != nil || r.Result != c.want || r.AnsweredCounter != 7 || r.AnsweredSeq != c.seq || r.Balance != c.balance || r.Reason != meterproto.ReasonAnswer {
				t.Fatalf("answer %+v %v", r, err)
			}
			// The same bytes again never credit twice.
			before := m.Balance
			m.Apply(b, c.now)
			if m.Balance != before {
				t.Fatalf("second delivery moved the balance %d → %d", before, m.Balance)
			}
		})
	}
}

func TestValveReopens(t *testing.T) {
	k := vecKey(t)
	m := &meterproto.Meter{Number: vecMeter, Key: k, LastAppliedSeq: 3, Unit: meterproto.UnitFen, Balance: 10}
	m.Use(100, 10)
	if m.Valve != meterproto.ValveClosedZero {
		t.Fatalf("valve %d at zero balance", m.Valve)
	}
	b, _ := meterproto.SealRecharge(k, vecMeter, 1, vecRechargeFields)
	if res, _, _, _ := m.Apply(b, vecReportTime); res != meterproto.ResultApplied || m.Valve != meterproto.ValveOpen {
		t.Fatalf("res %d valve %d", res, m.Valve)
	}
}

func TestRefusesBadFraming(t *testing.T) {
	good := unhex(t, vecReport)
	cases := map[string][]byte{
		"empty":         nil,
		"short":         good[:4],
		"bad magic":     append([]byte("GX"), good[2:]...),
		"bad version":   append([]byte{'G', 'M', 2}, good[3:]...),
		"bad type":      append([]byte{'G', 'M', 1, 9}, good[4:]...),
		"zero length":   append([]byte{'G', 'M', 1, 1, 0}, good[5:]...),
		"letters":       append(append([]byte{'G', 'M', 1, 1, 2}, "ab"...), good[16:]...),
		"truncated":     good[:len(good)-1],
		"trailing byte": append(bytes.Clone(good), 0),
	}
	for name, b := range cases {
		if _, err := meterproto.Parse(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

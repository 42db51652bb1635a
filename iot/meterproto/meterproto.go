// Package meterproto is the NB-IoT meter protocol of docs/meter-protocol.md:
// what travels inside the meter platform's payload between gaspay and a
// prepaid gas meter. The platform, like the phone for the recharge box, is
// an untrusted relay: both directions are sealed with AES-128-GCM under a
// per-meter key derived from a master key (the primitives of
// spec/box-protocol.md), reports are replay-proof by their counter, and a
// recharge carries the account's purchase sequence, which the meter applies
// only as its last applied sequence + 1.
//
// The package is pure: it encodes, decodes, seals and opens. Which counter
// is fresh and what a report proves is the iot package's business; what a
// meter does with a recharge is Meter.Apply, which the simulator and the
// tests run.
package meterproto

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"

	"gaspay/bleproxy"
)

// Errors; test them with errors.Is.
var (
	ErrShort       = errors.New("meterproto: message too short")
	ErrMagic       = errors.New("meterproto: bad magic or version")
	ErrLength      = errors.New("meterproto: length does not match")
	ErrMeterNumber = errors.New("meterproto: bad meter number")
	ErrType        = errors.New("meterproto: unexpected message type")
	ErrCounter     = errors.New("meterproto: counter 0 is never used")
	ErrBadMAC      = errors.New("meterproto: authentication failed")
	ErrBody        = errors.New("meterproto: bad plaintext")
)

// Type is a message type.
type Type byte

// Message types.
const (
	// TypeReport travels meter → server: a scheduled report, a button
	// press, or the answer to a recharge.
	TypeReport Type = 0x01
	// TypeRecharge travels server → meter.
	TypeRecharge Type = 0x02
)

// direction is the first byte of the GCM nonce: a (key, counter) pair is
// never used in both directions.
func (t Type) direction() byte {
	if t == TypeRecharge {
		return 0x01
	}
	return 0x00
}

// Sizes.
const (
	MaxMeterNumber = 20
	TagSize        = 16
	ReportSize     = 32 // REPORT plaintext
	RechargeSize   = 16 // RECHARGE plaintext
	// MaxMessage is the longest message: a 20-digit meter number and a
	// REPORT.
	MaxMessage = 11 + MaxMeterNumber + ReportSize + TagSize
)

const magic0, magic1, version = 'G', 'M', 1

// LabelMeter is the label of the per-meter key derivation.
const LabelMeter = "gasmeter/v1/meter"

// MeterKey returns K_meter = HMAC16(M, "gasmeter/v1/meter" || meter number).
func MeterKey(m bleproxy.MasterKey, meterNumber string) bleproxy.Key {
	return bleproxy.DeriveLabeled(m, LabelMeter, []byte(meterNumber))
}

// ValidMeterNumber reports whether s is 1–20 ASCII digits.
func ValidMeterNumber(s string) bool {
	if len(s) == 0 || len(s) > MaxMeterNumber {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Message is a sealed message: its header fields and its body (ciphertext
// and tag).
type Message struct {
	Type    Type
	Meter   string
	Counter uint32
	Body    []byte
}

func (m Message) header() []byte {
	h := make([]byte, 0, 11+len(m.Meter))
	h = append(h, magic0, magic1, version, byte(m.Type), byte(len(m.Meter)))
	h = append(h, m.Meter...)
	h = binary.BigEndian.AppendUint32(h, m.Counter)
	return binary.BigEndian.AppendUint16(h, uint16(len(m.Body)))
}

// Marshal returns the message's bytes.
func (m Message) Marshal() []byte { return append(m.header(), m.Body...) }

// Parse reads a message's framing without authenticating it: the caller
// then derives the meter's key and calls Open.
func Parse(b []byte) (Message, error) {
	if len(b) < 5 {
		return Message{}, ErrShort
	}
	if b[0] != magic0 || b[1] != magic1 || b[2] != version {
		return Message{}, ErrMagic
	}
	t := Type(b[3])
	if t != TypeReport && t != TypeRecharge {
		return Message{}, fmt.Errorf("%w: 0x%02x", ErrType, b[3])
	}
	l := int(b[4])
	if len(b) < 11+l {
		return Message{}, ErrShort
	}
	meter := string(b[5 : 5+l])
	if !ValidMeterNumber(meter) {
		return Message{}, ErrMeterNumber
	}
	counter := binary.BigEndian.Uint32(b[5+l:])
	n := int(binary.BigEndian.Uint16(b[9+l:]))
	if len(b) != 11+l+n {
		return Message{}, ErrLength
	}
	if n < TagSize {
		return Message{}, fmt.Errorf("%w: body shorter than a tag", ErrLength)
	}
	if counter == 0 {
		return Message{}, ErrCounter
	}
	return Message{Type: t, Meter: meter, Counter: counter, Body: append([]byte(nil), b[11+l:]...)}, nil
}

func nonce(t Type, counter uint32) []byte {
	n := make([]byte, 12)
	n[0] = t.direction()
	binary.BigEndian.PutUint32(n[8:], counter)
	return n
}

func gcm(k bleproxy.Key) cipher.AEAD {
	b := k.Bytes()
	block, err := aes.NewCipher(b)
	clear(b)
	if err != nil {
		panic("meterproto: aes: " + err.Error()) // unreachable: keys are 16 bytes
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		panic("meterproto: gcm: " + err.Error())
	}
	return a
}

// Seal builds a sealed message. The caller owns the counter: never reuse a
// (meter, type, counter) with another plaintext.
func Seal(k bleproxy.Key, t Type, meter string, counter uint32, plaintext []byte) (Message, error) {
	if !ValidMeterNumber(meter) {
		return Message{}, ErrMeterNumber
	}
	if counter == 0 {
		return Message{}, ErrCounter
	}
	m := Message{Type: t, Meter: meter, Counter: counter, Body: make([]byte, len(plaintext)+TagSize)}
	m.Body = gcm(k).Seal(m.Body[:0], nonce(t, counter), plaintext, m.header())
	return m, nil
}

// Open authenticates and decrypts a message of type want.
func Open(k bleproxy.Key, want Type, m Message) ([]byte, error) {
	if m.Type != want {
		return nil, fmt.Errorf("%w: got 0x%02x", ErrType, byte(m.Type))
	}
	if m.Counter == 0 {
		return nil, ErrCounter
	}
	pt, err := gcm(k).Open(nil, nonce(m.Type, m.Counter), m.Body, m.header())
	if err != nil {
		return nil, fmt.Errorf("%w: meter %s counter %d", ErrBadMAC, m.Meter, m.Counter)
	}
	return pt, nil
}

// Unit is what a meter counts its balance and credits in.
type Unit byte

// Units.
const (
	UnitFen     Unit = 1 // fen: amount meters
	UnitCentiM3 Unit = 2 // 0.01 m3: volume meters
)

// Reason is why a meter reports.
type Reason byte

// Report reasons.
const (
	ReasonScheduled Reason = 0 // the daily report
	ReasonButton    Reason = 1 // the customer held the button for 5 seconds
	ReasonAnswer    Reason = 2 // the answer to a recharge
)

// Valve states.
const (
	ValveOpen       byte = 0
	ValveClosedZero byte = 1 // closed by the meter at zero balance
	ValveClosed     byte = 2 // closed for another reason (tamper, staff)
)

// Result is what a meter did with a recharge.
type Result byte

// Results of a recharge, reported in the answer.
const (
	ResultNone           Result = 0 // the report answers no recharge
	ResultApplied        Result = 1 // seq was last applied + 1: credited
	ResultAlreadyApplied Result = 2 // seq <= last applied: nothing changed
	ResultOutOfSequence  Result = 3 // seq > last applied + 1: nothing changed
	ResultExpired        Result = 4 // the meter's clock is past not_after
	ResultRefused        Result = 5 // refused for another reason (balance ceiling)
)

// Report is a REPORT's plaintext.
type Report struct {
	Reason            Reason
	LastAppliedSeq    uint32
	Unit              Unit
	Balance           int32  // in Unit; negative when the meter lets a debt run
	CumulativeCentiM3 uint32 // 0.01 m3 through the meter since installation
	Valve             byte
	BatteryMV         uint16
	SignalDBm         int16 // RSRP
	MeterTime         uint32
	// AnsweredCounter, AnsweredSeq and Result describe the recharge this
	// report answers (Reason == ReasonAnswer); zero otherwise.
	AnsweredCounter uint32
	Result          Result
	AnsweredSeq     uint32
}

// MarshalBinary encodes the report's 32 bytes.
func (r Report) MarshalBinary() ([]byte, error) {
	b := make([]byte, ReportSize)
	b[0] = byte(r.Reason)
	binary.BigEndian.PutUint32(b[1:], r.LastAppliedSeq)
	b[5] = byte(r.Unit)
	binary.BigEndian.PutUint32(b[6:], uint32(r.Balance))
	binary.BigEndian.PutUint32(b[10:], r.CumulativeCentiM3)
	b[14] = r.Valve
	binary.BigEndian.PutUint16(b[15:], r.BatteryMV)
	binary.BigEndian.PutUint16(b[17:], uint16(r.SignalDBm))
	binary.BigEndian.PutUint32(b[19:], r.MeterTime)
	binary.BigEndian.PutUint32(b[23:], r.AnsweredCounter)
	b[27] = byte(r.Result)
	binary.BigEndian.PutUint32(b[28:], r.AnsweredSeq)
	return b, r.check()
}

func (r Report) check() error {
	switch {
	case r.Reason > ReasonAnswer:
		return fmt.Errorf("%w: reason %d", ErrBody, r.Reason)
	case r.Unit != UnitFen && r.Unit != UnitCentiM3:
		return fmt.Errorf("%w: unit %d", ErrBody, r.Unit)
	case r.Valve > ValveClosed:
		return fmt.Errorf("%w: valve %d", ErrBody, r.Valve)
	case r.Result > ResultRefused:
		return fmt.Errorf("%w: result %d", ErrBody, r.Result)
	case (r.Reason == ReasonAnswer) != (r.Result != ResultNone):
		return fmt.Errorf("%w: an answer, and only an answer, carries a result", ErrBody)
	case r.Reason != ReasonAnswer && (r.AnsweredCounter != 0 || r.AnsweredSeq != 0):
		return fmt.Errorf("%w: answered fields outside an answer", ErrBody)
	}
	return nil
}

// UnmarshalBinary decodes a report's 32 bytes.
func (r *Report) UnmarshalBinary(b []byte) error {
	if len(b) != ReportSize {
		return fmt.Errorf("%w: report of %d bytes", ErrBody, len(b))
	}
	v := Report{
		Reason: Reason(b[0]), LastAppliedSeq: binary.BigEndian.Uint32(b[1:]), Unit: Unit(b[5]),
		Balance: int32(binary.BigEndian.Uint32(b[6:])), CumulativeCentiM3: binary.BigEndian.Uint32(b[10:]),
		Valve: b[14], BatteryMV: binary.BigEndian.Uint16(b[15:]), SignalDBm: int16(binary.BigEndian.Uint16(b[17:])),
		MeterTime: binary.BigEndian.Uint32(b[19:]), AnsweredCounter: binary.BigEndian.Uint32(b[23:]),
		Result: Result(b[27]), AnsweredSeq: binary.BigEndian.Uint32(b[28:]),
	}
	if err := v.check(); err != nil {
		return err
	}
	*r = v
	return nil
}

// Recharge flags.
const FlagReopenValve byte = 0x01

// Recharge is a RECHARGE's plaintext.
type Recharge struct {
	Seq    uint32
	Unit   Unit
	Credit uint32
	// ReopenValve asks the meter to open a valve it closed at zero
	// balance once the credit is on.
	ReopenValve bool
	// NotAfter is the last second, by the meter's clock, at which the meter
	// may apply this recharge: a copy kept by the platform, or replayed by
	// anyone, is dead after it. It is what lets gaspay prove a recharge can
	// never land (docs/meter-protocol.md, "Proving a recharge dead").
	NotAfter uint32
}

// MarshalBinary encodes the recharge's 16 bytes.
func (r Recharge) MarshalBinary() ([]byte, error) {
	if r.Seq == 0 || r.Credit == 0 || (r.Unit != UnitFen && r.Unit != UnitCentiM3) || r.NotAfter == 0 {
		return nil, fmt.Errorf("%w: recharge seq %d unit %d credit %d", ErrBody, r.Seq, r.Unit, r.Credit)
	}
	b := make([]byte, RechargeSize)
	binary.BigEndian.PutUint32(b[0:], r.Seq)
	b[4] = byte(r.Unit)
	binary.BigEndian.PutUint32(b[5:], r.Credit)
	if r.ReopenValve {
		b[9] = FlagReopenValve
	}
	binary.BigEndian.PutUint32(b[10:], r.NotAfter)
	return b, nil
}

// UnmarshalBinary decodes a recharge's 16 bytes.
func (r *Recharge) UnmarshalBinary(b []byte) error {
	if len(b) != RechargeSize {
		return fmt.Errorf("%w: recharge of %d bytes", ErrBody, len(b))
	}
	if b[9]&^FlagReopenValve != 0 || b[14] != 0 || b[15] != 0 {
		return fmt.Errorf("%w: reserved bits set", ErrBody)
	}
	v := Recharge{Seq: binary.BigEndian.Uint32(b[0:]), Unit: Unit(b[4]), Credit: binary.BigEndian.Uint32(b[5:]),
		ReopenValve: b[9]&FlagReopenValve != 0, NotAfter: binary.BigEndian.Uint32(b[10:])}
	if _, err := v.MarshalBinary(); err != nil {
		return err
	}
	*r = v
	return nil
}

// SealReport seals a report as the meter does.
func SealReport(k bleproxy.Key, meter string, counter uint32, r Report) ([]byte, error) {
	pt, err := r.MarshalBinary()
	if err != nil {
		return nil, err
	}
	m, err := Seal(k, TypeReport, meter, counter, pt)
	if err != nil {
		return nil, err
	}
	return m.Marshal(), nil
}

// OpenReport parses and authenticates a report with the key keyOf gives for
// its meter number.
func OpenReport(b []byte, keyOf func(meter string) bleproxy.Key) (Message, Report, error) {
	m, err := Parse(b)
	if err != nil {
		return Message{}, Report{}, err
	}
	pt, err := Open(keyOf(m.Meter), TypeReport, m)
	if err != nil {
		return m, Report{}, err
	}
	var r Report
	if err := r.UnmarshalBinary(pt); err != nil {
		return m, Report{}, err
	}
	return m, r, nil
}

// SealRecharge seals a recharge as the server does.
func SealRecharge(k bleproxy.Key, meter string, counter uint32, r Recharge) ([]byte, error) {
	pt, err := r.MarshalBinary()
	if err != nil {
		return nil, err
	}
	m, err := Seal(k, TypeRecharge, meter, counter, pt)
	if err != nil {
		return nil, err
	}
	return m.Marshal(), nil
}

// OpenRecharge parses and authenticates a recharge addressed to meter.
func OpenRecharge(b []byte, k bleproxy.Key, meter string) (Message, Recharge, error) {
	m, err := Parse(b)
	if err != nil {
		return Message{}, Recharge{}, err
	}
	if m.Meter != meter {
		return m, Recharge{}, fmt.Errorf("%w: addressed to %s", ErrMeterNumber, m.Meter)
	}
	pt, err := Open(k, TypeRecharge, m)
	if err != nil {
		return m, Recharge{}, err
	}
	var r Recharge
	if err := r.UnmarshalBinary(pt); err != nil {
		return m, Recharge{}, err
	}
	return m, r, nil
}

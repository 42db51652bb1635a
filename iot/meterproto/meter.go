package meterproto

import (
	"math"

	"gaspay/bleproxy"
)

// Meter is the state a meter keeps and the rules it applies, as the meter's
// firmware does: the simulator and the tests run it, and the document's
// rules are tested against it.
type Meter struct {
	Number            string
	Key               bleproxy.Key
	ReportCounter     uint32
	LastAppliedSeq    uint32
	Unit              Unit
	Balance           int32
	CumulativeCentiM3 uint32
	Valve             byte
	BatteryMV         uint16
	SignalDBm         int16
	// MaxBalance is the most the meter holds; a recharge that would pass
	// it is refused (ResultRefused). 0 means no ceiling.
	MaxBalance int32
}

// Report seals the meter's next report for reason at the meter's clock.
func (m *Meter) Report(reason Reason, now uint32) ([]byte, error) {
	return m.report(Report{Reason: reason}, now)
}

func (m *Meter) report(r Report, now uint32) ([]byte, error) {
	m.ReportCounter++
	r.LastAppliedSeq, r.Unit, r.Balance, r.CumulativeCentiM3 = m.LastAppliedSeq, m.Unit, m.Balance, m.CumulativeCentiM3
	r.Valve, r.BatteryMV, r.SignalDBm, r.MeterTime = m.Valve, m.BatteryMV, m.SignalDBm, now
	return SealReport(m.Key, m.Number, m.ReportCounter, r)
}

// Apply takes a recharge message at the meter's clock now and returns what
// it did and the sealed answer. A message that does not authenticate, or
// is addressed to another meter, changes nothing and is not answered
// (err is set): the meter cannot tell who sent it.
//
// The sequence rule: a recharge is credited only if its sequence is the
// last applied + 1 and now <= NotAfter; any other recharge is answered with
// the meter's state and changes nothing, so a recharge delivered twice, or
// late, never credits twice.
func (m *Meter) Apply(b []byte, now uint32) (Result, Recharge, []byte, error) {
	msg, r, err := OpenRecharge(b, m.Key, m.Number)
	if err != nil {
		return ResultNone, Recharge{}, nil, err
	}
	res := m.decide(r, now)
	if res == ResultApplied {
		m.LastAppliedSeq = r.Seq
		m.Balance += int32(r.Credit)
		if r.ReopenValve && m.Valve == ValveClosedZero && m.Balance > 0 {
			m.Valve = ValveOpen
		}
	}
	ans, err := m.report(Report{Reason: ReasonAnswer, AnsweredCounter: msg.Counter, Result: res, AnsweredSeq: r.Seq}, now)
	return res, r, ans, err
}

func (m *Meter) decide(r Recharge, now uint32) Result {
	switch {
	case r.Seq <= m.LastAppliedSeq:
		return ResultAlreadyApplied
	case r.Seq != m.LastAppliedSeq+1:
		return ResultOutOfSequence
	case now > r.NotAfter:
		return ResultExpired
	case r.Unit != m.Unit || r.Credit > math.MaxInt32 ||
		int64(m.Balance)+int64(r.Credit) > math.MaxInt32 ||
		(m.MaxBalance > 0 && int64(m.Balance)+int64(r.Credit) > int64(m.MaxBalance)):
		return ResultRefused
	}
	return ResultApplied
}

// Use draws gas: the balance falls by cost (in the meter's unit) and the
// valve closes at zero.
func (m *Meter) Use(volume uint32, cost int32) {
	m.CumulativeCentiM3 += volume
	m.Balance -= cost
	if m.Balance <= 0 && m.Valve == ValveOpen {
		m.Valve = ValveClosedZero
	}
}

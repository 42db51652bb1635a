package iot

import (
	"context"
	"errors"
	"time"

	"gaspay/iot/meterproto"
	"gaspay/models"
)

// MeterView is what the meter last said, as of its report.
type MeterView struct {
	Number            string
	Balance           *int64
	Unit              string
	CumulativeCentiM3 *int64
	Valve             string
	BatteryMV         *int
	SignalDBm         *int
	// AsOf is when the report arrived; MeterTime the meter's own clock.
	AsOf      *time.Time
	MeterTime *time.Time
	Online    bool
}

// DeliveryView is a credit on its way, and what the customer can do.
type DeliveryView struct {
	OrderNo     string
	Seq         int
	Amount      int64
	Unit        string
	State       State
	Text        string // where it is, in Chinese
	Action      string // what the customer can do, in Chinese; empty when nothing
	SentAt      *time.Time
	DeliveredAt *time.Time
	AppliedAt   *time.Time
	RefundAsked bool
	CreatedAt   time.Time
}

// Texts shown to the customer, by state.
var stateText = map[State]struct{ text, action string }{
	Queued:    {"充值已受理，正在发往燃气表平台。", ""},
	Sent:      {"充值指令已发往燃气表，将在燃气表下次通讯时到账（燃气表每天自动通讯一次）。", "如需立即到账，请长按燃气表按键 5 秒，约 10 分钟后查看。"},
	Delivered: {"燃气表已收到充值指令，正在等待燃气表确认到账。", "如长时间未到账，请长按燃气表按键 5 秒。"},
	Applied:   {"充值已到账，燃气表已确认。", ""},
	Expired:   {"燃气表长时间未通讯，充值指令已重新发送。", "请长按燃气表按键 5 秒唤醒燃气表，约 10 分钟后查看。"},
	Rejected:  {"燃气表未能接受本次充值，工作人员将为您处理。", "如有疑问，请联系客服热线。"},
	Cancelled: {"本次充值已取消，款项将原路退回。", ""},
}

var valveText = map[int]string{0: "open", 1: "closed_zero_balance", 2: "closed"}

// Account shows an IoT account's meter as of its last report and its
// newest delivery (nil when it never had one).
func (s *Service) Account(ctx context.Context, accountID int64, meterNumber string) (*MeterView, *DeliveryView, error) {
	var mv *MeterView
	m, err := s.store.IoTMeter(ctx, meterNumber)
	switch {
	case err == nil:
		mv = &MeterView{Number: m.MeterNumber, Balance: m.Balance, CumulativeCentiM3: m.CumulativeCentiM3, BatteryMV: m.BatteryMV,
			SignalDBm: m.SignalDBm, AsOf: m.ReportedAt, MeterTime: m.MeterTime, Online: m.Online, Unit: "fen"}
		if m.Unit != nil && *m.Unit == 2 {
			mv.Unit = "centi_m3"
		}
		if m.Valve != nil {
			mv.Valve = valveText[*m.Valve]
		}
	case !errors.Is(err, models.ErrNotFound):
		return nil, nil, err
	}
	d, err := oneDelivery(s.store.LatestIoTDelivery(ctx, accountID))
	if errors.Is(err, models.ErrNotFound) {
		return mv, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	t := stateText[d.State]
	v := &DeliveryView{OrderNo: d.OrderNo, Seq: d.Seq, Amount: d.Amount, Unit: d.Unit, State: d.State, Text: t.text, Action: t.action,
		SentAt: d.SentAt, DeliveredAt: d.DeliveredAt, AppliedAt: d.AppliedAt, RefundAsked: d.CancelRequestedAt != nil, CreatedAt: d.CreatedAt}
	if d.State.Open() && d.CancelRequestedAt != nil {
		v.Text, v.Action = "退款申请已受理，待燃气表确认本次充值未到账后原路退回。", ""
	}
	return mv, v, nil
}

// Reports lists a meter's history, newest first.
func (s *Service) Reports(ctx context.Context, meterNumber string, limit int) ([]ReportRow, error) {
	return s.store.IoTReports(ctx, meterNumber, limit)
}

// DeliveryOf is an order's IoT delivery.
// Errors: ErrNotIoT.
func (s *Service) DeliveryOf(ctx context.Context, orderNo string) (Delivery, error) {
	d, err := oneDelivery(s.store.IoTDeliveryOfOrder(ctx, orderNo))
	if errors.Is(err, models.ErrNotFound) {
		return d, ErrNotIoT
	}
	return d, err
}

// ErrDeviceTaken: another meter has this device id at the platform.
var ErrDeviceTaken = errors.New("iot: device id belongs to another meter")

// RegisterDevice records the platform's device id of an IoT account's
// meter (CTWing names devices by its own ids; until one is registered the
// meter number stands for it, as in the sandbox).
// Errors: ErrUnknownMeter, ErrDeviceTaken.
func RegisterDevice(ctx context.Context, store *models.Store, meterNumber, deviceID string, now time.Time) error {
	if !meterproto.ValidMeterNumber(meterNumber) || deviceID == "" || len(deviceID) > 64 {
		return ErrUnknownMeter
	}
	if _, err := store.EnsureIoTMeter(ctx, meterNumber, "", now); errors.Is(err, models.ErrNotFound) {
		return ErrUnknownMeter
	} else if err != nil {
		return err
	}
	taken, err := store.IoTDeviceTaken(ctx, deviceID, meterNumber)
	if err != nil {
		return err
	}
	if taken {
		return ErrDeviceTaken
	}
	return store.SetIoTDevice(ctx, meterNumber, deviceID, now)
}

package handlers

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"gaspay/customer"
	"gaspay/iot"
	"gaspay/iot/meterproto"
)

// ctwingPush takes the meter platform's subscription pushes. They carry no
// signature: a report counts only if the meter's key authenticates it, a
// command response only makes us ask the platform. A replayed push is
// answered as taken and changes nothing, so the platform stops retrying it.
func (h *handler) ctwingPush(c *gin.Context) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, 64<<10))
	if err != nil {
		writeError(c, errBodyTooLarge)
		return
	}
	out, err := h.IoT.HandlePush(c.Request.Context(), body)
	switch {
	case errors.Is(err, iot.ErrMalformed):
		c.JSON(http.StatusBadRequest, gin.H{"code": "malformed", "message": "not a push we understand"})
		return
	case errors.Is(err, iot.ErrForged):
		h.Log.WarnContext(c.Request.Context(), "meter report refused", slog.String("err", err.Error()))
		c.JSON(http.StatusBadRequest, gin.H{"code": "unauthenticated_report", "message": "the report does not authenticate"})
		return
	case errors.Is(err, iot.ErrUnknownMeter):
		c.JSON(http.StatusNotFound, gin.H{"code": "unknown_meter", "message": "no IoT account has this meter"})
		return
	case err != nil:
		writeError(c, err)
		return
	}
	res := map[iot.Outcome]string{iot.Taken: "taken", iot.Replayed: "replayed", iot.Hint: "noted"}[out]
	c.JSON(http.StatusOK, gin.H{"code": 0, "msg": "ok", "result": res})
}

type iotResponse struct {
	Meter    *iotMeterResponse    `json:"meter,omitempty"`
	Delivery *iotDeliveryResponse `json:"delivery,omitempty"`
}

type iotMeterResponse struct {
	Balance           *int64     `json:"balance,omitempty"`
	Unit              string     `json:"unit"`
	CumulativeCentiM3 *int64     `json:"cumulative_centi_m3,omitempty"`
	Valve             string     `json:"valve,omitempty"`
	BatteryMV         *int       `json:"battery_mv,omitempty"`
	SignalDBm         *int       `json:"signal_dbm,omitempty"`
	AsOf              *time.Time `json:"as_of,omitempty"`
	MeterTime         *time.Time `json:"meter_time,omitempty"`
}

type iotDeliveryResponse struct {
	OrderNo     string     `json:"order_no,omitempty"`
	Seq         int        `json:"seq,omitempty"`
	Amount      int64      `json:"amount,omitempty"`
	Unit        string     `json:"unit"`
	State       string     `json:"state"`
	Text        string     `json:"text"`
	Action      string     `json:"action,omitempty"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	AppliedAt   *time.Time `json:"applied_at,omitempty"`
	RefundAsked bool       `json:"refund_asked,omitempty"`
}

// iotView is the meter as of its last report and the newest credit on its
// way, for an IoT account.
func (h *handler) iotView(c *gin.Context, accountID int64, meter string) (*iotResponse, error) {
	mv, dv, err := h.IoT.Account(c.Request.Context(), accountID, meter)
	if err != nil {
		return nil, err
	}
	out := &iotResponse{}
	if mv != nil {
		out.Meter = &iotMeterResponse{Balance: mv.Balance, Unit: mv.Unit, CumulativeCentiM3: mv.CumulativeCentiM3, Valve: mv.Valve,
			BatteryMV: mv.BatteryMV, SignalDBm: mv.SignalDBm, AsOf: mv.AsOf, MeterTime: mv.MeterTime}
	}
	if dv != nil {
		out.Delivery = &iotDeliveryResponse{OrderNo: dv.OrderNo, Seq: dv.Seq, Amount: dv.Amount, Unit: dv.Unit, State: string(dv.State),
			Text: dv.Text, Action: dv.Action, SentAt: dv.SentAt, DeliveredAt: dv.DeliveredAt, AppliedAt: dv.AppliedAt, RefundAsked: dv.RefundAsked}
	}
	return out, nil
}

type meterReportResponse struct {
	Counter           int64     `json:"counter"`
	Reason            string    `json:"reason"`
	LastAppliedSeq    int64     `json:"last_applied_seq"`
	Balance           int64     `json:"balance"`
	Unit              string    `json:"unit"`
	CumulativeCentiM3 int64     `json:"cumulative_centi_m3"`
	Valve             int       `json:"valve"`
	BatteryMV         int       `json:"battery_mv"`
	SignalDBm         int       `json:"signal_dbm"`
	MeterTime         time.Time `json:"meter_time"`
	ReceivedAt        time.Time `json:"received_at"`
	Result            int       `json:"result,omitempty"`
	AnsweredSeq       int64     `json:"answered_seq,omitempty"`
}

func toMeterReports(rows []iot.ReportRow) []meterReportResponse {
	out := make([]meterReportResponse, len(rows))
	for i, r := range rows {
		reason := map[int]string{int(meterproto.ReasonScheduled): "scheduled", int(meterproto.ReasonButton): "button",
			int(meterproto.ReasonAnswer): "answer"}[r.Reason]
		unit := "fen"
		if r.Unit == int(meterproto.UnitCentiM3) {
			unit = "centi_m3"
		}
		out[i] = meterReportResponse{Counter: r.Counter, Reason: reason, LastAppliedSeq: r.LastAppliedSeq, Balance: r.Balance, Unit: unit,
			CumulativeCentiM3: r.CumulativeCentiM3, Valve: r.Valve, BatteryMV: r.BatteryMV, SignalDBm: r.SignalDBm,
			MeterTime: r.MeterTime, ReceivedAt: r.ReceivedAt, Result: r.Result, AnsweredSeq: r.AnsweredSeq}
	}
	return out
}

// meterReports is the history of a bound IoT account's meter.
func (h *handler) meterReports(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		writeError(c, err)
		return
	}
	v, err := h.Customers.Account(c.Request.Context(), session(c).UserID, id)
	if err != nil {
		writeError(c, err)
		return
	}
	if v.Kind != customer.KindIoT || v.Meter == nil {
		c.JSON(http.StatusOK, gin.H{"reports": []meterReportResponse{}})
		return
	}
	rows, err := h.IoT.Reports(c.Request.Context(), v.Meter.Number, 60)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"reports": toMeterReports(rows)})
}

// adminMeterReports is any meter's history, for staff.
func (h *handler) adminMeterReports(c *gin.Context) {
	n := c.Param("number")
	if !meterproto.ValidMeterNumber(n) {
		writeError(c, badRequest("invalid_meter_number", "A meter number is 1 to 20 digits."))
		return
	}
	rows, err := h.IoT.Reports(c.Request.Context(), n, 200)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"reports": toMeterReports(rows)})
}

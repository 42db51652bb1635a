package iot

import (
	"time"

	"gaspay/models"
)

// Delivery is an IoT credit's way to its meter (stored by
// models.IoTDelivery; its moves are lifecycle.go's).
type Delivery struct {
	ID                 int64
	CreditID           int64
	OrderNo            string
	AccountID          int64
	MeterNumber        string
	Seq                int
	Unit               string
	Amount             int64
	State              State
	Reason             *string
	Copies             int
	ValidUntil         *time.Time
	NextAt             time.Time
	SentAt             *time.Time
	DeliveredAt        *time.Time
	AppliedAt          *time.Time
	CancelRequestedAt  *time.Time
	CancelBy           *string
	CancelReason       *string
	CancelConfirmedAt  *time.Time
	UnappliedAlertedAt *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

func deliveryOf(r models.IoTDelivery) Delivery {
	return Delivery{ID: r.ID, CreditID: r.CreditID, OrderNo: r.OrderNo, AccountID: r.AccountID, MeterNumber: r.MeterNumber,
		Seq: r.Seq, Unit: r.Unit, Amount: r.Amount, State: State(r.State), Reason: r.Reason, Copies: r.Copies,
		ValidUntil: r.ValidUntil, NextAt: r.NextAt, SentAt: r.SentAt, DeliveredAt: r.DeliveredAt, AppliedAt: r.AppliedAt,
		CancelRequestedAt: r.CancelRequestedAt, CancelBy: r.CancelBy, CancelReason: r.CancelReason,
		CancelConfirmedAt: r.CancelConfirmedAt, UnappliedAlertedAt: r.UnappliedAlertedAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func deliveriesOf(rows []models.IoTDelivery, err error) ([]Delivery, error) {
	out := make([]Delivery, len(rows))
	for i, r := range rows {
		out[i] = deliveryOf(r)
	}
	return out, err
}

func oneDelivery(r models.IoTDelivery, err error) (Delivery, error) { return deliveryOf(r), err }

// MeterState is a meter's platform identity and last authenticated state.
type MeterState = models.IoTMeter

// ReportRow is one authenticated report: the meter's history.
type ReportRow = models.IoTReport

// Copy states of our own, beside the platform's CommandState.
const (
	copySending CommandState = "sending" // sealed; the platform's answer not yet in
	copyUnknown CommandState = "unknown" // the platform's answer was lost
)

// copyState is where a copy is, by our records.
func copyState(c models.IoTCommand) CommandState { return CommandState(c.State) }

// copyAnswer is what the platform's word about a copy writes.
func copyAnswer(state CommandState, commandID *string, checked *time.Time, at time.Time) models.IoTCommandChange {
	s := string(state)
	return models.IoTCommandChange{CommandID: commandID, State: &s, CheckedAt: checked, At: at}
}

package console

import (
	"context"
	"errors"

	"gaspay/iot"
	"gaspay/models"
	"gaspay/recharge"
	"gaspay/staff"
)

// Recovery states of a card credit, as the counter reads them.
const (
	// CardAwaitingWrite: paid, never written; any box or kiosk writes it
	// at the card's next read, at no charge.
	CardAwaitingWrite = "awaiting_write"
	// CardInDoubt: a write was issued and its result is unknown (or it
	// may still be executed): the next read of the card settles it —
	// found on the card it is delivered, otherwise written again.
	CardInDoubt = "in_doubt"
	// CardDelivered: on the card.
	CardDelivered = "delivered"
	// CardCancelled: refunded before it reached the card.
	CardCancelled = "cancelled"
)

// DeliveryState is where an order's credit stands on its way to the meter:
// for a card, its recovery state and every write issued for it; for an IoT
// meter, its delivery.
type DeliveryState struct {
	Order   recharge.OrderView
	InDoubt bool
	// Card: the recovery state (Card* constants) and the writes issued.
	Card   string
	Writes []models.CardWrite
	// IoT: the delivery, nil for other kinds or before it is queued.
	IoT *iot.Delivery
}

// Delivery shows where an order's credit stands.
// Errors: ErrNotFound.
func (s *Service) Delivery(ctx context.Context, orderNo string) (DeliveryState, error) {
	v, err := s.recharge.OrderByNo(ctx, orderNo)
	if errors.Is(err, recharge.ErrNotFound) {
		return DeliveryState{}, ErrNotFound
	}
	if err != nil {
		return DeliveryState{}, err
	}
	d := DeliveryState{Order: v}
	c := v.Credit
	if c == nil {
		return d, nil
	}
	d.InDoubt = recharge.InDoubt(*c)
	switch c.Kind {
	case models.CreditCard:
		switch {
		case c.Status == models.CreditDelivered:
			d.Card = CardDelivered
		case c.Status != models.CreditPending:
			d.Card = CardCancelled
		case d.InDoubt:
			d.Card = CardInDoubt
		default:
			d.Card = CardAwaitingWrite
		}
		d.Writes, err = s.store.CardWritesOfCredit(ctx, c.ID)
	case models.CreditIoT:
		if s.cfg.IoT == nil {
			return d, nil
		}
		dl, err := s.cfg.IoT.DeliveryOf(ctx, orderNo)
		if errors.Is(err, iot.ErrNotIoT) {
			return d, nil
		}
		if err != nil {
			return d, err
		}
		d.IoT = &dl
	}
	return d, err
}

// ErrNoIoT: the order has no IoT delivery to resend.
var ErrNoIoT = errors.New("console: not an IoT delivery")

// ResendIoT sends an IoT credit's recharge again now, if no copy can still
// reach the meter (iot.Service.Resend), audited in the transaction that
// decides it, with the delivery as it stood under its lock.
// Errors: ErrNoIoT, and iot.ErrDeliveryOver, iot.ErrNotResendable.
func (s *Service) ResendIoT(ctx context.Context, by staff.Actor, orderNo, note string) (iot.Delivery, error) {
	if s.cfg.IoT == nil {
		return iot.Delivery{}, ErrNoIoT
	}
	now := s.now().UTC()
	d, err := s.cfg.IoT.Resend(ctx, orderNo, func(tx *models.Store, before iot.Delivery) error {
		return by.Audit(ctx, tx, now, "iot.resend", "order:"+orderNo,
			map[string]any{"state": before.State, "copies": before.Copies, "next_at": before.NextAt},
			map[string]any{"state": before.State, "copies": before.Copies, "next_at": now}, note)
	})
	if errors.Is(err, iot.ErrNotIoT) {
		return d, ErrNoIoT
	}
	return d, err
}

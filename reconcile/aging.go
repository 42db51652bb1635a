package reconcile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gaspay/models"
)

// Age buckets of undelivered credits.
var ageBuckets = []string{"lt_1h", "lt_1d", "lt_3d", "older"}

// AgingReport is the paid credits not yet delivered, by kind and age, and
// the ones older than the alert age with their last delivery attempt.
type AgingReport struct {
	At time.Time
	// Counts[kind][bucket] and Amounts[kind][bucket]; kinds card, iot,
	// bill; buckets lt_1h, lt_1d, lt_3d, older. Amounts are in each
	// credit's unit (fen, or 0.01 m3 for volume cards) and so only summed
	// within a kind.
	Counts   map[models.CreditKind]map[string]int
	Total    int
	AlertAge time.Duration
	// Overdue lists credits older than AlertAge, oldest first (at most
	// 200), each with its attempts and last attempt.
	Overdue []models.UndeliveredCredit
}

// maxOverdue bounds the overdue list of one report.
const maxOverdue = 200

// Aging builds the delivery aging report as of now.
func (s *Service) Aging(ctx context.Context) (AgingReport, error) {
	now := s.now().UTC()
	rep := AgingReport{At: now, AlertAge: s.cfg.DeliveryAlertAge, Counts: map[models.CreditKind]map[string]int{}}
	for _, k := range []models.CreditKind{models.CreditCard, models.CreditIoT, models.CreditBill} {
		rep.Counts[k] = map[string]int{}
		for _, b := range ageBuckets {
			rep.Counts[k][b] = 0
		}
	}
	buckets, err := s.store.CreditAging(ctx, now.Add(-time.Hour), now.Add(-24*time.Hour), now.Add(-72*time.Hour))
	if err != nil {
		return rep, err
	}
	for _, b := range buckets {
		if rep.Counts[b.Kind] == nil {
			rep.Counts[b.Kind] = map[string]int{}
		}
		rep.Counts[b.Kind][b.Bucket] += b.Count
		rep.Total += b.Count
	}
	rep.Overdue, err = s.store.OldestUndelivered(ctx, now.Add(-s.cfg.DeliveryAlertAge), maxOverdue)
	return rep, err
}

// CheckAging builds the report and alerts staff when credits are older
// than the alert age.
func (s *Service) CheckAging(ctx context.Context) (AgingReport, error) {
	rep, err := s.Aging(ctx)
	if err != nil || len(rep.Overdue) == 0 {
		return rep, err
	}
	var nos []string
	for i, c := range rep.Overdue {
		if i == 20 {
			nos = append(nos, "…")
			break
		}
		nos = append(nos, c.OrderNo)
	}
	s.alert(ctx, "delivery_overdue", "", fmt.Sprintf("%d 笔已付款的充值超过 %s 仍未送达：%s",
		len(rep.Overdue), rep.AlertAge, strings.Join(nos, ", ")))
	return rep, nil
}

package models

import (
	"context"
	"time"
)

// Count is one group of a GROUP BY: up to two labels and how many rows.
type Count struct {
	A, B string
	N    int64
}

// OpsSnapshot is what the operations team watches, read from the ledger
// itself: the same on every replica, and true after any restart.
type OpsSnapshot struct {
	// Orders by channel and status; Closed by close reason (the janitor's
	// and the order path's closes).
	Orders []Count
	Closed []Count
	// Payments by provider and source (notify, query, close, partner).
	Payments []Count
	// Refunds by the order's channel and the refund's status.
	Refunds []Count
	// Credits by kind and status; PendingOlder by kind and age ("1h",
	// "24h"); OldestPending the age in seconds of each kind's oldest
	// pending credit.
	Credits       []Count
	PendingOlder  []Count
	OldestPending map[string]float64
	// OpenAlerts by kind.
	OpenAlerts []Count
	// Refusals of the day (UTC) by kind.
	Refusals []Count
}

// Ops reads the snapshot.
func (s *Store) Ops(ctx context.Context, now time.Time) (OpsSnapshot, error) {
	now = now.UTC()
	var out OpsSnapshot
	db := s.db.WithContext(ctx)
	queries := []struct {
		dst  *[]Count
		sql  string
		args []any
	}{
		{&out.Orders, `SELECT channel AS a, status AS b, COUNT(*) AS n FROM orders GROUP BY channel, status`, nil},
		{&out.Closed, `SELECT COALESCE(close_reason, '') AS a, '' AS b, COUNT(*) AS n FROM orders WHERE status = ? GROUP BY close_reason`, []any{OrderClosed}},
		{&out.Payments, `SELECT provider AS a, source AS b, COUNT(*) AS n FROM payments GROUP BY provider, source`, nil},
		{&out.Refunds, `SELECT o.channel AS a, r.status AS b, COUNT(*) AS n FROM refunds r JOIN orders o ON o.id = r.order_id GROUP BY o.channel, r.status`, nil},
		{&out.Credits, `SELECT kind AS a, status AS b, COUNT(*) AS n FROM credits GROUP BY kind, status`, nil},
		{&out.PendingOlder, `SELECT kind AS a, '1h' AS b, COUNT(*) AS n FROM credits WHERE status = ? AND created_at < ? GROUP BY kind
			UNION ALL SELECT kind AS a, '24h' AS b, COUNT(*) AS n FROM credits WHERE status = ? AND created_at < ? GROUP BY kind`,
			[]any{CreditPending, now.Add(-time.Hour), CreditPending, now.Add(-24 * time.Hour)}},
		{&out.OpenAlerts, `SELECT kind AS a, '' AS b, COUNT(*) AS n FROM alerts WHERE resolved_at IS NULL GROUP BY kind`, nil},
		{&out.Refusals, `SELECT kind AS a, '' AS b, SUM(times) AS n FROM refusal_counts WHERE day = ? GROUP BY kind`, []any{now.Format(time.DateOnly)}},
	}
	for _, q := range queries {
		if err := db.Raw(q.sql, q.args...).Scan(q.dst).Error; err != nil {
			return OpsSnapshot{}, err
		}
	}
	out.OldestPending = map[string]float64{}
	for _, k := range []CreditKind{CreditBill, CreditIoT, CreditCard} {
		var c Credit
		err := db.Select("created_at").Where("status = ? AND kind = ?", CreditPending, k).Order("created_at").Limit(1).Find(&c).Error
		if err != nil {
			return OpsSnapshot{}, err
		}
		if !c.CreatedAt.IsZero() {
			out.OldestPending[string(k)] = now.Sub(c.CreatedAt).Seconds()
		}
	}
	return out, nil
}

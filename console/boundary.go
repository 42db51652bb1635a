package console

import (
	"context"
	"time"

	"gaspay/models"
)

// The names of the back office that handlers needs, so that handlers never
// imports models (the import rule of internal/importrules). They are
// aliases: models stays the one definition.

// OrderFilter narrows the order list.
type OrderFilter = models.OrderFilter

// Payment is an order's payment as the provider reported it.
type Payment = models.Payment

// Approval is a request waiting for a second member of staff.
type Approval = models.Approval

// AuditFilter narrows the audit trail.
type AuditFilter = models.AuditFilter

// Import is one file of bills or readings staff imported.
type Import = models.Import

// AccountStatus is whether an account may pay.
type AccountStatus = models.AccountStatus

// Account statuses staff may set.
const (
	AccountActive    = models.AccountActive
	AccountSuspended = models.AccountSuspended
)

// Alert is something staff must look at.
type Alert = models.Alert

// Alerts lists what staff must look at, the newest first; only the open
// ones when open.
func (s *Service) Alerts(ctx context.Context, open bool, limit int) ([]Alert, error) {
	return s.store.Alerts(ctx, open, limit)
}

// RefusalCount is a day's refusals by one rate limit of one subject.
type RefusalCount = models.RefusalCount

// CountRefusal adds a request refused by a rate limit to the day's count
// of its kind and subject.
func (s *Service) CountRefusal(ctx context.Context, kind, subject string, at time.Time) error {
	return s.store.CountRefusal(ctx, kind, subject, at)
}

// Refusals lists a day's (YYYY-MM-DD, UTC) refusals, the largest first.
func (s *Service) Refusals(ctx context.Context, day string, limit int) ([]RefusalCount, error) {
	return s.store.RefusalCounts(ctx, day, limit)
}

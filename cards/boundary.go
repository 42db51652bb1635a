package cards

import (
	"context"

	"gaspay/models"
)

// EventFilter narrows the record of box sessions, frames, reads, writes
// and deliveries; an alias, so that handlers never imports models
// (internal/importrules).
type EventFilter = models.BoxEventFilter

// Event is one entry of that record.
type Event = models.BoxEvent

// Events lists the record, the newest first.
func (d *Desk) Events(ctx context.Context, f EventFilter, limit int) ([]Event, error) {
	return d.store.BoxEvents(ctx, f, limit)
}

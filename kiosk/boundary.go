package kiosk

import (
	"context"

	"gaspay/models"
)

// Kiosk is a self-service terminal as the database keeps it; an alias, so
// that handlers never imports models (internal/importrules).
type Kiosk = models.Kiosk

// List lists the kiosks and each one's last contact, for staff.
func (t *Terminals) List(ctx context.Context) ([]Kiosk, error) { return t.store.Kiosks(ctx) }

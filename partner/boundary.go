package partner

import "gaspay/models"

// Partner is a collection partner as the database keeps it; an alias, so
// that handlers never imports models (internal/importrules).
type Partner = models.Partner

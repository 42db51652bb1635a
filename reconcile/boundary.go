package reconcile

import "gaspay/models"

// The names of reconciliation that handlers needs, so that handlers never
// imports models (the import rule of internal/importrules). They are
// aliases: models/recon_store.go stays the one definition.

// Run is one reconciliation of a provider's bill for a day.
type Run = models.ReconRun

// Difference is one difference a run found between the bill and our books.
type Difference = models.ReconDifference

// DiffState is where a difference stands.
type DiffState = models.DiffState

// DiffOpen: a difference nobody has repaired or resolved yet.
const DiffOpen = models.DiffOpen

// ParseDiffState reads a difference state's name; false if there is none such.
func ParseDiffState(s string) (DiffState, bool) { return models.ParseDiffState(s) }

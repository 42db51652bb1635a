package models

import (
	"context"

	"gorm.io/gorm"
)

// MigrateUpTo applies the migrations up to version upTo, for tests of a
// migration on data written before it.
func MigrateUpTo(ctx context.Context, db *gorm.DB, upTo int) ([]int, error) {
	return apply(ctx, db.WithContext(ctx), DialectOf(db), upTo)
}

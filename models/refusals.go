package models

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// RefusalCount is how many requests of one kind from one subject (a user,
// a box) a rate limit refused on one day (YYYY-MM-DD, UTC).
type RefusalCount struct {
	ID      int64
	Day     string
	Kind    string
	Subject string
	Times   int64
	FirstAt time.Time
	LastAt  time.Time
}

// CountRefusal adds one refusal to its day's row, creating it if needed:
// one upsert, whatever the flood.
func (s *Store) CountRefusal(ctx context.Context, kind, subject string, at time.Time) error {
	at = at.UTC()
	r := RefusalCount{Day: at.Format(time.DateOnly), Kind: kind, Subject: subject, Times: 1, FirstAt: at, LastAt: at}
	return s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "day"}, {Name: "kind"}, {Name: "subject"}},
		DoUpdates: clause.Assignments(map[string]any{
			"times": gorm.Expr("times + 1"), "last_at": at,
		}),
	}).Create(&r).Error
}

// RefusalCounts lists a day's refusals, the largest first.
func (s *Store) RefusalCounts(ctx context.Context, day string, limit int) ([]RefusalCount, error) {
	var out []RefusalCount
	err := s.db.WithContext(ctx).Where("day = ?", day).Order("times DESC, id").Limit(limit).Find(&out).Error
	return out, err
}

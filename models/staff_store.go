package models

import (
	"context"
	"encoding/json"
	"time"
)

// Staff is a member of staff who logs in to the console.
type Staff struct {
	ID           int64
	Name         string
	Role         string
	PasswordHash string
	TOTPSecret   *string `gorm:"column:totp_secret"`
	Active       bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// TableName keeps GORM from pluralising.
func (Staff) TableName() string { return "staff" }

// CreateStaff adds a member of staff.
// Errors: ErrDuplicate when the name is taken.
func (s *Store) CreateStaff(ctx context.Context, st *Staff) error {
	return dup(s.db.WithContext(ctx).Create(st).Error)
}

// StaffByName finds a member of staff by name.
func (s *Store) StaffByName(ctx context.Context, name string) (Staff, error) {
	var st Staff
	err := s.db.WithContext(ctx).Where("name = ?", name).Take(&st).Error
	return st, one(err)
}

// LockStaffByName finds a member of staff by name and locks the row until
// the transaction ends, for a change decided on the row as read (and
// audited with it as "before"): a second change waits, then reads what the
// first committed.
// Errors: ErrNotFound.
func (s *Store) LockStaffByName(ctx context.Context, name string) (Staff, error) {
	var st Staff
	err := s.db.WithContext(ctx).Clauses(forUpdate()).Where("name = ?", name).Take(&st).Error
	return st, one(err)
}

// StaffByID finds a member of staff by id.
func (s *Store) StaffByID(ctx context.Context, id int64) (Staff, error) {
	var st Staff
	err := s.db.WithContext(ctx).Take(&st, id).Error
	return st, one(err)
}

// UpdateStaff changes a member of staff's columns.
// Errors: ErrNotFound.
func (s *Store) UpdateStaff(ctx context.Context, id int64, set map[string]any) error {
	res := s.db.WithContext(ctx).Model(&Staff{}).Where("id = ?", id).Updates(set)
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return res.Error
}

// ListStaff lists every member of staff by name.
func (s *Store) ListStaff(ctx context.Context) ([]Staff, error) {
	var out []Staff
	return out, s.db.WithContext(ctx).Order("name").Find(&out).Error
}

// AuditEntry is one line of the audit trail: who did what, when, from where,
// and the state before and after.
type AuditEntry struct {
	ID         int64
	At         time.Time
	Actor      string
	StaffID    *int64
	Role       string
	IP         string `gorm:"column:ip"`
	RequestID  string
	Action     string
	Target     string
	BeforeJSON *string `gorm:"column:before_json"`
	AfterJSON  *string `gorm:"column:after_json"`
	Note       string
}

// TableName is the audit table.
func (AuditEntry) TableName() string { return "audit_log" }

// JSONText marshals v for an audit entry's before or after; nil stays NULL.
func JSONText(v any) *string {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		s := `"unprintable"`
		return &s
	}
	s := string(b)
	return &s
}

// AppendAudit writes one audit entry. Call it with the transaction's store
// of the action it records, so that both commit or neither does. There is
// no way to change or remove an entry.
func (s *Store) AppendAudit(ctx context.Context, e *AuditEntry) error {
	return s.db.WithContext(ctx).Create(e).Error
}

// AuditFilter selects audit entries; zero fields select everything.
type AuditFilter struct {
	Actor  string
	Action string
	Target string
	From   time.Time
	To     time.Time
	// BeforeID pages backwards: entries with a smaller id.
	BeforeID int64
}

// Audit lists entries, newest first.
func (s *Store) Audit(ctx context.Context, f AuditFilter, limit int) ([]AuditEntry, error) {
	q := s.db.WithContext(ctx).Order("id DESC").Limit(limit)
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.Target != "" {
		q = q.Where("target = ?", f.Target)
	}
	if !f.From.IsZero() {
		q = q.Where("at >= ?", f.From)
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", f.To)
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	var out []AuditEntry
	return out, q.Find(&out).Error
}

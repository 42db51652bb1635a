package staff

import (
	"context"
	"time"

	"gaspay/models"
)

// Actor is who does something in the console: a member of staff, the
// automation token, or the command line. Every action writes its audit
// entry through Audit, in the action's own transaction.
type Actor struct {
	StaffID   *int64
	Name      string
	Role      Role
	IP        string
	RequestID string
}

// Names of the actors that are not staff.
const (
	TokenActor = "token:automation"
	CLIActor   = "cli"
)

// Audit appends an entry for an action on target to the audit trail, in
// tx: before and after are marshalled to JSON (nil stays empty).
func (a Actor) Audit(ctx context.Context, tx *models.Store, at time.Time, action, target string, before, after any, note string) error {
	if len([]rune(note)) > 250 {
		note = string([]rune(note)[:250])
	}
	// The columns' bounds; a host name or proxy chain may be longer.
	ip, rid := a.IP, a.RequestID
	if len(ip) > 45 {
		ip = ip[:45]
	}
	if len(rid) > 64 {
		rid = rid[:64]
	}
	return tx.AppendAudit(ctx, &models.AuditEntry{At: at.UTC(), Actor: a.Name, StaffID: a.StaffID, Role: string(a.Role),
		IP: ip, RequestID: rid, Action: action, Target: target, BeforeJSON: models.JSONText(before),
		AfterJSON: models.JSONText(after), Note: note})
}

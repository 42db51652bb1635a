package staff

// Role is what a member of staff may do.
type Role string

// Roles.
const (
	Viewer   Role = "viewer"
	Operator Role = "operator"
	Finance  Role = "finance"
	Admin    Role = "admin"
)

// Roles lists every role, least to most.
var Roles = []Role{Viewer, Operator, Finance, Admin}

// ParseRole accepts exactly one of the roles.
func ParseRole(s string) (Role, bool) {
	for _, r := range Roles {
		if string(r) == s {
			return r, true
		}
	}
	return "", false
}

// Permission is one kind of console request.
type Permission string

// Permissions. Every /api/admin route requires exactly one.
const (
	// Read: dashboards, search, customers, orders, alerts, box records.
	Read Permission = "read"
	// Act: refunds (up to the threshold), card replacement, account
	// status and corrections, alert resolution, provider queries.
	Act Permission = "act"
	// Approve: refunds above the threshold requested by someone else.
	Approve Permission = "approve"
	// Report: 日结 reports, reconciliation.
	Report Permission = "report"
	// Audit: read the audit trail.
	Audit Permission = "audit"
	// Manage: staff, partners, tariffs, imports.
	Manage Permission = "manage"
)

// grants is the one table of who may do what.
var grants = map[Permission][]Role{
	Read:    {Viewer, Operator, Finance, Admin},
	Act:     {Operator, Admin},
	Approve: {Finance, Admin},
	Report:  {Finance, Admin},
	Audit:   {Finance, Admin},
	Manage:  {Admin},
}

// Allows reports whether role r has permission p.
func (r Role) Allows(p Permission) bool {
	for _, g := range grants[p] {
		if g == r {
			return true
		}
	}
	return false
}

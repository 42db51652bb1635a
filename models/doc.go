// Package models holds gaspay's GORM models and their storage: opening the
// database (MySQL/MariaDB in production, an SQLite file by default), the
// versioned migrations that build one schema on both, and the queries and
// guarded updates the domain packages build on.
//
// Money is int64 fen in *_fen columns and volume int64 0.01 m3 in *_centi_m3
// columns; no float ever touches either. Times are stored in UTC.
// Every "exactly once" in the product is backed by a unique index here.
package models

// Package beijing owns the one time zone gaspay's business runs on: China
// Standard Time, UTC+8 all year (China has kept no daylight saving time
// since 1991). The business day (reconciliation dates, today's partner
// payments, receipts, daily reports) and the providers' wire times (WeChat
// Pay's RFC 3339 times, Alipay's "yyyy-MM-dd HH:mm:ss") are read in it.
//
// It is a fixed zone rather than time.LoadLocation("Asia/Shanghai") so that
// it never depends on the host's tz database. The package imports nothing
// of gaspay's, so the provider packages may use it too.
package beijing

import "time"

// loc is never reassigned: *time.Location is immutable once made.
var loc = time.FixedZone("CST", 8*3600)

// Location is China Standard Time, UTC+8.
func Location() *time.Location { return loc }

// Minute is t as staff and customers read it: Beijing time to the minute,
// "2006-01-02 15:04".
func Minute(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04") }

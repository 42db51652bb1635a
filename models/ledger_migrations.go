package models

// ledgerMigrations are issue 15's versions (60–64): the ledgers' one owner.
func ledgerMigrations() []migration {
	return []migration{
		{60, "idempotency keys with their orders", []string{
			// The key and the request's hash are written with the order, in
			// the transaction that creates it: a key is never claimed
			// without its order (recharge/idempotency.go). The unique index
			// makes two simultaneous twins collide; NULLs (orders without a
			// key) never do.
			`ALTER TABLE orders ADD COLUMN idem_scope VARCHAR(64) NULL`,
			`ALTER TABLE orders ADD COLUMN idem_key VARCHAR(64) NULL`,
			`ALTER TABLE orders ADD COLUMN request_hash CHAR(64) NULL`,
			`ALTER TABLE orders ADD COLUMN pay_params TEXT NULL`,
			`CREATE UNIQUE INDEX ux_orders_idem ON orders (idem_scope, idem_key)`,
			// Keys were claimed here, in a transaction of their own, and
			// finished in another: replaced by the columns above.
			`DROP TABLE idempotency_keys`,
		}},
	}
}

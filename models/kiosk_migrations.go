package models

// kioskMigrations are issue 12's versions (55–59): self-service kiosks and
// the closed loop of their payment codes.
func kioskMigrations() []migration {
	return []migration{
		{55, "kiosks", []string{
			// Self-service kiosks (自助售气终端): each signs its requests with
			// its own HMAC key, like a partner, and has one built-in card
			// reader/writer speaking the box protocol (box_id).
			// last_seen_at is the kiosk's last authenticated request.
			`CREATE TABLE kiosks (
				id {{id}},
				kiosk_id VARCHAR(32) NOT NULL,
				secret VARCHAR(255) NOT NULL,
				box_id CHAR(16) NOT NULL,
				active BOOLEAN NOT NULL,
				last_seen_at {{time}} NULL,
				last_ip VARCHAR(64) NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_kiosks_id UNIQUE (kiosk_id)
			){{table}}`,
			// Which provider takes an order's payment, when the channel
			// alone does not say (a kiosk's scanned code may be WeChat's or
			// Alipay's). Empty: the channel's provider.
			`ALTER TABLE orders ADD COLUMN provider VARCHAR(16) NOT NULL DEFAULT ''`,
			// The closed loop of a scanned payment code, one per kiosk
			// order: paying (polled every 5 s until deadline_at, 60 s after
			// the scan), reversing (the provider is asked to reverse or
			// cancel until it confirms), then paid, reversed, closed or
			// refunded. next_at is when the loop next asks the provider;
			// the janitor takes over any row whose next_at has passed.
			`CREATE TABLE code_payments (
				id {{id}},
				order_id BIGINT NOT NULL,
				order_no VARCHAR(32) NOT NULL,
				kiosk_id VARCHAR(32) NOT NULL,
				provider VARCHAR(16) NOT NULL,
				state VARCHAR(12) NOT NULL,
				reason VARCHAR(24) NOT NULL,
				scanned_at {{time}} NOT NULL,
				deadline_at {{time}} NOT NULL,
				next_at {{time}} NOT NULL,
				polls INT NOT NULL,
				reverses INT NOT NULL,
				last_error VARCHAR(255) NOT NULL,
				finished_at {{time}} NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_code_payments_order UNIQUE (order_id),
				CONSTRAINT fk_code_payments_order FOREIGN KEY (order_id) REFERENCES orders (id)
			){{table}}`,
			`CREATE INDEX ix_code_payments_due ON code_payments (state, next_at)`,
			`CREATE INDEX ix_code_payments_no ON code_payments (order_no)`,
		}},
	}
}

package models

// consoleMigrations are the staff console's versions (35–44).
func consoleMigrations() []migration {
	return []migration{
		{35, "staff and audit", []string{
			// Staff who log in to the console. password_hash is an argon2id
			// PHC string; totp_secret the base32 RFC 6238 key, NULL without
			// a second factor.
			`CREATE TABLE staff (
				id {{id}},
				name VARCHAR(32) NOT NULL,
				role VARCHAR(16) NOT NULL,
				password_hash VARCHAR(255) NOT NULL,
				totp_secret VARCHAR(64) NULL,
				active BOOLEAN NOT NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_staff_name UNIQUE (name)
			){{table}}`,
			// Every staff action and every use of the automation token, written
			// in the transaction of the action itself. No code path updates or
			// deletes a row.
			`CREATE TABLE audit_log (
				id {{id}},
				at {{time}} NOT NULL,
				actor VARCHAR(40) NOT NULL,
				staff_id BIGINT NULL,
				role VARCHAR(16) NOT NULL,
				ip VARCHAR(45) NOT NULL,
				request_id VARCHAR(64) NOT NULL,
				action VARCHAR(40) NOT NULL,
				target VARCHAR(64) NOT NULL,
				before_json TEXT NULL,
				after_json TEXT NULL,
				note VARCHAR(255) NOT NULL
			){{table}}`,
			`CREATE INDEX ix_audit_actor ON audit_log (actor, id)`,
			`CREATE INDEX ix_audit_action ON audit_log (action, id)`,
			`CREATE INDEX ix_audit_target ON audit_log (target, id)`,
			// A refund above the approval threshold waits here for a second
			// member of staff. pending_order_no is order_no while pending and
			// NULL after: one open approval per order.
			`CREATE TABLE approvals (
				id {{id}},
				kind VARCHAR(16) NOT NULL,
				order_no VARCHAR(32) NOT NULL,
				amount_fen BIGINT NOT NULL,
				reason VARCHAR(64) NOT NULL,
				requested_by VARCHAR(40) NOT NULL,
				status VARCHAR(12) NOT NULL,
				pending_order_no VARCHAR(32) NULL,
				decided_by VARCHAR(40) NULL,
				decided_at {{time}} NULL,
				created_at {{time}} NOT NULL,
				CONSTRAINT ux_approvals_pending UNIQUE (pending_order_no)
			){{table}}`,
			`CREATE INDEX ix_approvals_status ON approvals (status, id)`,
		}},
		{36, "console search", []string{
			// The search box: user number and meter and card numbers are
			// unique indexes already; phone and holder-name prefixes need
			// theirs (utf8mb4_bin makes LIKE 'x%' a range scan).
			`CREATE INDEX ix_accounts_phone ON accounts (phone)`,
			`CREATE INDEX ix_accounts_holder ON accounts (holder_name)`,
			// The orders list filters by day, channel and status.
			`CREATE INDEX ix_orders_created ON orders (created_at)`,
			`CREATE INDEX ix_alerts_resolved ON alerts (resolved_at)`,
			`ALTER TABLE alerts ADD COLUMN resolved_by VARCHAR(40) NULL`,
			`ALTER TABLE alerts ADD COLUMN resolution VARCHAR(255) NULL`,
		}},
		{37, "imports", []string{
			`ALTER TABLE bills ADD COLUMN due_date CHAR(10) NULL`,
			// An import of bills or readings: staged, checked, then switched
			// to committed in one short transaction, then applied in
			// batches (each batch marks its staged rows applied, so a crash
			// resumes where it stopped).
			`CREATE TABLE imports (
				id {{id}},
				kind VARCHAR(16) NOT NULL,
				file_name VARCHAR(255) NOT NULL,
				actor VARCHAR(40) NOT NULL,
				status VARCHAR(12) NOT NULL,
				total_rows INT NOT NULL,
				applied_rows INT NOT NULL,
				error_count INT NOT NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL
			){{table}}`,
			`CREATE INDEX ix_imports_status ON imports (status)`,
			`CREATE TABLE bill_staging (
				id {{id}},
				import_id BIGINT NOT NULL,
				line INT NOT NULL,
				user_number VARCHAR(12) NOT NULL,
				account_id BIGINT NULL,
				period CHAR(7) NOT NULL,
				amount_fen BIGINT NOT NULL,
				due_date CHAR(10) NOT NULL,
				applied BOOLEAN NOT NULL,
				CONSTRAINT ux_bill_staging UNIQUE (import_id, user_number, period)
			){{table}}`,
			`CREATE INDEX ix_bill_staging_apply ON bill_staging (import_id, applied, id)`,
			`CREATE TABLE reading_staging (
				id {{id}},
				import_id BIGINT NOT NULL,
				line INT NOT NULL,
				meter_number VARCHAR(20) NOT NULL,
				meter_id BIGINT NULL,
				read_at {{time}} NOT NULL,
				reading_centi_m3 BIGINT NOT NULL,
				applied BOOLEAN NOT NULL,
				CONSTRAINT ux_reading_staging UNIQUE (import_id, meter_number, read_at)
			){{table}}`,
			`CREATE INDEX ix_reading_staging_apply ON reading_staging (import_id, applied, id)`,
			// Meter readings (the meter's index, 0.01 m3) from the billing
			// system's meter readers.
			`CREATE TABLE meter_readings (
				id {{id}},
				meter_id BIGINT NOT NULL,
				read_at {{time}} NOT NULL,
				reading_centi_m3 BIGINT NOT NULL,
				import_id BIGINT NULL,
				created_at {{time}} NOT NULL,
				CONSTRAINT ux_meter_readings UNIQUE (meter_id, read_at),
				CONSTRAINT fk_meter_readings_meter FOREIGN KEY (meter_id) REFERENCES meters (id)
			){{table}}`,
		}},
		tariffMigration(),
		{39, "partner key rotation", []string{
			// A rotated key stays valid until previous_until, so that a
			// partner can switch without a moment of refused payments.
			`ALTER TABLE partners ADD COLUMN previous_secret VARCHAR(255) NULL`,
			`ALTER TABLE partners ADD COLUMN previous_until {{time}} NULL`,
		}},
	}
}

// tariffMigration versions the tariffs (38): every price list is a
// tariff (a customer category) with versions, each in force from its
// date; version 1 of each is today's tiers, in force since always.
// tariff_tiers stays for a binary rolled back past this version.
func tariffMigration() migration {
	return migration{38, "tariff versions", []string{
		`CREATE TABLE tariff_versions (
			id {{id}},
			tariff_id BIGINT NOT NULL,
			version INT NOT NULL,
			effective_from {{time}} NOT NULL,
			created_by VARCHAR(40) NOT NULL,
			created_at {{time}} NOT NULL,
			CONSTRAINT ux_tariff_versions UNIQUE (tariff_id, version),
			CONSTRAINT fk_tariff_versions_tariff FOREIGN KEY (tariff_id) REFERENCES tariffs (id)
		){{table}}`,
		`CREATE TABLE tariff_version_tiers (
			id {{id}},
			version_id BIGINT NOT NULL,
			ordinal INT NOT NULL,
			upper_cm3 BIGINT NULL,
			price_fen_per_m3 BIGINT NOT NULL,
			CONSTRAINT ux_tariff_version_tiers UNIQUE (version_id, ordinal),
			CONSTRAINT fk_tariff_version_tiers FOREIGN KEY (version_id) REFERENCES tariff_versions (id)
		){{table}}`,
		`INSERT INTO tariff_versions (tariff_id, version, effective_from, created_by, created_at)
			SELECT id, 1, '2000-01-01 00:00:00', 'migration', CURRENT_TIMESTAMP FROM tariffs`,
		`INSERT INTO tariff_version_tiers (version_id, ordinal, upper_cm3, price_fen_per_m3)
			SELECT v.id, t.ordinal, t.upper_cm3, t.price_fen_per_m3 FROM tariff_tiers t JOIN tariff_versions v ON v.tariff_id = t.tariff_id`,
	}}
}

// consoleLaterMigrations close the console's gaps (80–84).
func consoleLaterMigrations() []migration {
	return []migration{
		{80, "order tariff version", []string{
			// The version of the account's tariff that priced a gas order;
			// NULL for bill payments (not priced) and orders made before.
			`ALTER TABLE orders ADD COLUMN tariff_version INT NULL`,
		}},
		{81, "account import staging", []string{
			// The billing system's accounts, staged and checked before the
			// switch, then applied in short batches (as bills are).
			`CREATE TABLE account_staging (
				id {{id}},
				import_id BIGINT NOT NULL,
				line INT NOT NULL,
				user_number VARCHAR(12) NOT NULL,
				holder_name VARCHAR(64) NOT NULL,
				address VARCHAR(255) NOT NULL,
				phone VARCHAR(20) NOT NULL,
				kind VARCHAR(16) NOT NULL,
				meter_number VARCHAR(20) NOT NULL,
				card_serial VARCHAR(16) NOT NULL,
				card_type VARCHAR(8) NOT NULL,
				balance_fen BIGINT NOT NULL,
				applied BOOLEAN NOT NULL,
				CONSTRAINT ux_account_staging UNIQUE (import_id, user_number)
			){{table}}`,
			`CREATE INDEX ix_account_staging_apply ON account_staging (import_id, applied, id)`,
		}},
		{82, "messages by account", []string{
			// The customer record lists the messages sent about an
			// account. Rows written before know their account through the
			// order their key names (paid:, delivered:); the others stay
			// NULL.
			`ALTER TABLE outbox_messages ADD COLUMN account_id BIGINT NULL`,
			`CREATE INDEX ix_outbox_account ON outbox_messages (account_id, id)`,
			`UPDATE outbox_messages SET account_id = (SELECT o.account_id FROM orders o WHERE o.order_no = SUBSTR(outbox_messages.event_key, 6))
				WHERE event_key LIKE 'paid:%'`,
			`UPDATE outbox_messages SET account_id = (SELECT o.account_id FROM orders o WHERE o.order_no = SUBSTR(outbox_messages.event_key, 11))
				WHERE event_key LIKE 'delivered:%'`,
		}},
	}
}

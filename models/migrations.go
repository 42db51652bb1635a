package models

// allMigrations lists the schema's versions in order. A migration, once
// released, never changes: a change is a new version.
//
// Statements are portable between MySQL 8 / MariaDB 10.6+ and SQLite:
// unique constraints are declared inside CREATE TABLE, plain indexes with
// CREATE INDEX, and times are DATETIME (microseconds on MySQL) in UTC.
func allMigrations() []migration {
	return []migration{
		{1, "customers", []string{
			`CREATE TABLE tariffs (
				id {{id}},
				code VARCHAR(32) NOT NULL,
				name VARCHAR(64) NOT NULL,
				created_at {{time}} NOT NULL,
				CONSTRAINT ux_tariffs_code UNIQUE (code)
			){{table}}`,
			// upper_cm3 is the year-to-date volume at which the tier ends;
			// NULL for the last, unbounded tier.
			`CREATE TABLE tariff_tiers (
				id {{id}},
				tariff_id BIGINT NOT NULL,
				ordinal INT NOT NULL,
				upper_cm3 BIGINT NULL,
				price_fen_per_m3 BIGINT NOT NULL,
				CONSTRAINT ux_tariff_tiers UNIQUE (tariff_id, ordinal),
				CONSTRAINT fk_tariff_tiers_tariff FOREIGN KEY (tariff_id) REFERENCES tariffs (id)
			){{table}}`,
			`INSERT INTO tariffs (id, code, name, created_at) VALUES (1, 'residential', '居民生活用气', CURRENT_TIMESTAMP)`,
			`INSERT INTO tariff_tiers (tariff_id, ordinal, upper_cm3, price_fen_per_m3) VALUES
				(1, 1, 31000, 300), (1, 2, 52000, 330), (1, 3, NULL, 420)`,
			`CREATE TABLE accounts (
				id {{id}},
				user_number VARCHAR(12) NOT NULL,
				holder_name VARCHAR(64) NOT NULL,
				address VARCHAR(255) NOT NULL,
				phone VARCHAR(20) NOT NULL,
				kind VARCHAR(16) NOT NULL,
				tariff_id BIGINT NOT NULL,
				balance_fen BIGINT NOT NULL,
				status VARCHAR(16) NOT NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_accounts_user_number UNIQUE (user_number),
				CONSTRAINT fk_accounts_tariff FOREIGN KEY (tariff_id) REFERENCES tariffs (id)
			){{table}}`,
			`CREATE TABLE meters (
				id {{id}},
				account_id BIGINT NOT NULL,
				meter_number VARCHAR(20) NOT NULL,
				last_balance_fen BIGINT NULL,
				last_reported_at {{time}} NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_meters_number UNIQUE (meter_number),
				CONSTRAINT ux_meters_account UNIQUE (account_id),
				CONSTRAINT fk_meters_account FOREIGN KEY (account_id) REFERENCES accounts (id)
			){{table}}`,
			// current_account_id equals account_id while the card is the
			// account's current card and is NULL otherwise: its unique
			// index allows one current card per account on both databases
			// (both let NULLs repeat in a unique index).
			`CREATE TABLE cards (
				id {{id}},
				account_id BIGINT NOT NULL,
				card_serial CHAR(16) NOT NULL,
				card_type VARCHAR(8) NOT NULL,
				last_written_seq INT NULL,
				status VARCHAR(8) NOT NULL,
				current_account_id BIGINT NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_cards_serial UNIQUE (card_serial),
				CONSTRAINT ux_cards_current UNIQUE (current_account_id),
				CONSTRAINT fk_cards_account FOREIGN KEY (account_id) REFERENCES accounts (id)
			){{table}}`,
			`CREATE INDEX ix_cards_account ON cards (account_id)`,
			`CREATE TABLE bills (
				id {{id}},
				account_id BIGINT NOT NULL,
				period CHAR(7) NOT NULL,
				amount_due_fen BIGINT NOT NULL,
				amount_paid_fen BIGINT NOT NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_bills_period UNIQUE (account_id, period),
				CONSTRAINT fk_bills_account FOREIGN KEY (account_id) REFERENCES accounts (id)
			){{table}}`,
			// A user is one WeChat identity: an openid under one appid. The
			// same person has different openids in the mini-program and the
			// official account.
			`CREATE TABLE users (
				id {{id}},
				app_kind VARCHAR(8) NOT NULL,
				app_id VARCHAR(32) NOT NULL,
				open_id VARCHAR(64) NOT NULL,
				union_id VARCHAR(64) NULL,
				created_at {{time}} NOT NULL,
				last_login_at {{time}} NOT NULL,
				CONSTRAINT ux_users_openid UNIQUE (app_id, open_id)
			){{table}}`,
			`CREATE TABLE bindings (
				id {{id}},
				user_id BIGINT NOT NULL,
				account_id BIGINT NOT NULL,
				is_default BOOLEAN NOT NULL,
				created_at {{time}} NOT NULL,
				CONSTRAINT ux_bindings UNIQUE (user_id, account_id),
				CONSTRAINT fk_bindings_user FOREIGN KEY (user_id) REFERENCES users (id),
				CONSTRAINT fk_bindings_account FOREIGN KEY (account_id) REFERENCES accounts (id)
			){{table}}`,
			`CREATE INDEX ix_bindings_account ON bindings (account_id)`,
		}},
	}
}

package models

// allMigrations lists the schema's versions in order. A migration, once
// released, never changes: a change is a new version.
//
// Statements are portable between MySQL 8 / MariaDB 10.6+ and SQLite:
// unique constraints are declared inside CREATE TABLE, plain indexes with
// CREATE INDEX, and times are DATETIME (microseconds on MySQL) in UTC.
func allMigrations() []migration {
	return append([]migration{
		{1, "customers", []string{
			`CREATE TABLE tariffs (
				id {{id}},
				code VARCHAR(32) NOT NULL,
				name VARCHAR(64) NOT NULL,
				created_at {{time}} NOT NULL,
				CONSTRAINT ux_tariffs_code UNIQUE (code)
			){{table}}`,
			// upper_cm3 is the year-to-date volume at which the tier ends;
			// NULL for the last, unbounded tier. (0.01 m3: renamed
			// upper_centi_m3 by migration 85, as are the other *_cm3.)
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
		{2, "payments", []string{
			// purchase_seq: purchases ever credited to the account (购气次数),
			// the anti-replay number meters check. ytd_*: the volume bought
			// in ytd_year, where the annual tiers count from.
			`ALTER TABLE accounts ADD COLUMN purchase_seq INT NOT NULL DEFAULT 0`,
			`ALTER TABLE accounts ADD COLUMN ytd_year INT NOT NULL DEFAULT 0`,
			`ALTER TABLE accounts ADD COLUMN ytd_volume_cm3 BIGINT NOT NULL DEFAULT 0`,
			// inflight_account_id equals account_id while the order is
			// pending and is NULL otherwise: its unique index allows one
			// purchase in flight per account.
			`CREATE TABLE orders (
				id {{id}},
				order_no VARCHAR(32) NOT NULL,
				account_id BIGINT NOT NULL,
				user_id BIGINT NULL,
				channel VARCHAR(16) NOT NULL,
				app_id VARCHAR(32) NOT NULL,
				payer_open_id VARCHAR(64) NOT NULL,
				purpose VARCHAR(8) NOT NULL,
				volume_cm3 BIGINT NOT NULL,
				gross_fen BIGINT NOT NULL,
				deduction_fen BIGINT NOT NULL,
				leftover_fen BIGINT NOT NULL,
				payable_fen BIGINT NOT NULL,
				credit_unit VARCHAR(4) NOT NULL,
				credit_amount BIGINT NOT NULL,
				quote_json TEXT NOT NULL,
				status VARCHAR(12) NOT NULL,
				inflight_account_id BIGINT NULL,
				prepay_id VARCHAR(64) NULL,
				close_reason VARCHAR(32) NULL,
				expires_at {{time}} NOT NULL,
				checked_at {{time}} NULL,
				paid_at {{time}} NULL,
				closed_at {{time}} NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_orders_no UNIQUE (order_no),
				CONSTRAINT ux_orders_inflight UNIQUE (inflight_account_id),
				CONSTRAINT fk_orders_account FOREIGN KEY (account_id) REFERENCES accounts (id)
			){{table}}`,
			`CREATE INDEX ix_orders_account ON orders (account_id, id)`,
			`CREATE INDEX ix_orders_status ON orders (status, expires_at)`,
			// One payment per order, one order per provider transaction.
			`CREATE TABLE payments (
				id {{id}},
				order_id BIGINT NOT NULL,
				provider VARCHAR(16) NOT NULL,
				provider_txn_id VARCHAR(64) NOT NULL,
				amount_fen BIGINT NOT NULL,
				payer VARCHAR(64) NOT NULL,
				source VARCHAR(16) NOT NULL,
				paid_at {{time}} NOT NULL,
				created_at {{time}} NOT NULL,
				CONSTRAINT ux_payments_order UNIQUE (order_id),
				CONSTRAINT ux_payments_txn UNIQUE (provider, provider_txn_id),
				CONSTRAINT fk_payments_order FOREIGN KEY (order_id) REFERENCES orders (id)
			){{table}}`,
			// One credit per order; one delivery per (account, sequence);
			// pending_account_id (account_id while undelivered, else NULL)
			// allows one undelivered credit per account.
			`CREATE TABLE credits (
				id {{id}},
				order_id BIGINT NOT NULL,
				account_id BIGINT NOT NULL,
				kind VARCHAR(8) NOT NULL,
				seq INT NULL,
				unit VARCHAR(4) NOT NULL,
				amount BIGINT NOT NULL,
				status VARCHAR(12) NOT NULL,
				pending_account_id BIGINT NULL,
				settled_fen BIGINT NOT NULL,
				to_balance_fen BIGINT NOT NULL,
				attempts INT NOT NULL,
				last_attempt_at {{time}} NULL,
				delivered_at {{time}} NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_credits_order UNIQUE (order_id),
				CONSTRAINT ux_credits_seq UNIQUE (account_id, seq),
				CONSTRAINT ux_credits_pending UNIQUE (pending_account_id),
				CONSTRAINT fk_credits_order FOREIGN KEY (order_id) REFERENCES orders (id),
				CONSTRAINT fk_credits_account FOREIGN KEY (account_id) REFERENCES accounts (id)
			){{table}}`,
			`CREATE TABLE refunds (
				id {{id}},
				refund_no VARCHAR(64) NOT NULL,
				order_id BIGINT NOT NULL,
				amount_fen BIGINT NOT NULL,
				reason VARCHAR(64) NOT NULL,
				requested_by VARCHAR(64) NOT NULL,
				status VARCHAR(12) NOT NULL,
				provider_refund_id VARCHAR(64) NULL,
				succeeded_at {{time}} NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_refunds_no UNIQUE (refund_no),
				CONSTRAINT ux_refunds_order UNIQUE (order_id),
				CONSTRAINT fk_refunds_order FOREIGN KEY (order_id) REFERENCES orders (id)
			){{table}}`,
			`CREATE INDEX ix_refunds_status ON refunds (status)`,
			// A key, with a hash of the request it came with, and the answer
			// given. scope separates users (and, later, partners).
			`CREATE TABLE idempotency_keys (
				id {{id}},
				scope VARCHAR(64) NOT NULL,
				idem_key VARCHAR(64) NOT NULL,
				request_hash CHAR(64) NOT NULL,
				status_code INT NULL,
				response MEDIUMTEXT NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_idempotency UNIQUE (scope, idem_key)
			){{table}}`,
			// What staff must look at: amounts that do not match, payments
			// for unknown orders, refunds that failed.
			`CREATE TABLE alerts (
				id {{id}},
				kind VARCHAR(32) NOT NULL,
				order_no VARCHAR(32) NULL,
				detail TEXT NOT NULL,
				created_at {{time}} NOT NULL,
				resolved_at {{time}} NULL
			){{table}}`,
			`CREATE INDEX ix_alerts_open ON alerts (resolved_at, id)`,
		}},
		{3, "boxes", []string{
			// The highest HELLO counter accepted per box, kept durably: a
			// replayed HELLO opens nothing. A box appears at its first
			// genuine HELLO; staff may block one.
			`CREATE TABLE boxes (
				id {{id}},
				box_id CHAR(16) NOT NULL,
				hello_counter BIGINT NOT NULL,
				blocked BOOLEAN NOT NULL,
				first_seen_at {{time}} NOT NULL,
				last_seen_at {{time}} NOT NULL,
				CONSTRAINT ux_boxes_box UNIQUE (box_id)
			){{table}}`,
			// The record of every box session, accepted frame, refusal and
			// delivery.
			`CREATE TABLE box_events (
				id {{id}},
				box_id CHAR(16) NOT NULL,
				session_id VARCHAR(32) NOT NULL,
				user_id BIGINT NULL,
				kind VARCHAR(24) NOT NULL,
				order_no VARCHAR(32) NULL,
				card_serial CHAR(16) NULL,
				detail VARCHAR(255) NOT NULL,
				created_at {{time}} NOT NULL
			){{table}}`,
			`CREATE INDEX ix_box_events_box ON box_events (box_id, id)`,
			`CREATE INDEX ix_box_events_session ON box_events (session_id, id)`,
			`CREATE INDEX ix_box_events_order ON box_events (order_no)`,
		}},
		{4, "partners", []string{
			// Channels that collect the money themselves and tell us: POS
			// agents, banks, Alipay life-payment. secret is the HMAC key
			// both sides sign with.
			`CREATE TABLE partners (
				id {{id}},
				partner_id VARCHAR(32) NOT NULL,
				name VARCHAR(64) NOT NULL,
				secret VARCHAR(255) NOT NULL,
				active BOOLEAN NOT NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_partners_id UNIQUE (partner_id)
			){{table}}`,
			// A partner's payments of a day, for reconciliation.
			`CREATE INDEX ix_payments_provider_paid ON payments (provider, paid_at)`,
		}},
		{5, "arrears total", []string{
			// What the account owes on its bills, kept beside the balance
			// and changed in the same transaction as every bill: a payment
			// reads it with the account's lock instead of summing the bills.
			`ALTER TABLE accounts ADD COLUMN arrears_fen BIGINT NOT NULL DEFAULT 0`,
			`UPDATE accounts SET arrears_fen = COALESCE((SELECT SUM(b.amount_due_fen - b.amount_paid_fen) FROM bills b
				WHERE b.account_id = accounts.id AND b.amount_paid_fen < b.amount_due_fen), 0)`,
		}},
		{6, "card writes", []string{
			// Every WRITE_CARD the server issued, with the box session that
			// carries it: a phone may hold the frame back and hand it to the
			// box later, so a write stays live (its purchase in doubt) until
			// its result arrives, a read shows it on the card, or its session
			// is dead on the box (a newer HELLO of the same box, or
			// BOX_SESSION_IDLE + 60 s since active_at, the last time the
			// server sealed or accepted a frame of that session).
			// hello_counter is the session's HELLO; seq and amount are what
			// the write puts on the card, kept even when its credit is
			// cancelled and its sequence freed, so a late write of a refunded
			// purchase is recognised on the card.
			`CREATE TABLE card_writes (
				id {{id}},
				write_id CHAR(32) NOT NULL,
				credit_id BIGINT NOT NULL,
				account_id BIGINT NOT NULL,
				box_id CHAR(16) NOT NULL,
				session_id VARCHAR(32) NOT NULL,
				hello_counter BIGINT NOT NULL,
				seq INT NOT NULL,
				amount BIGINT NOT NULL,
				issued_at {{time}} NOT NULL,
				active_at {{time}} NOT NULL,
				result VARCHAR(24) NULL,
				resolved_at {{time}} NULL,
				CONSTRAINT ux_card_writes_write UNIQUE (write_id),
				CONSTRAINT fk_card_writes_credit FOREIGN KEY (credit_id) REFERENCES credits (id)
			){{table}}`,
			`CREATE INDEX ix_card_writes_credit ON card_writes (credit_id, resolved_at)`,
			`CREATE INDEX ix_card_writes_session ON card_writes (session_id, resolved_at)`,
			`CREATE INDEX ix_card_writes_account_seq ON card_writes (account_id, seq)`,
		}},
		{20, "reconciliation", []string{
			// One run per provider and bill day: re-running a day updates
			// it. bill_* are the provider's figures, our_* gaspay's.
			`CREATE TABLE recon_runs (
				id {{id}},
				provider VARCHAR(16) NOT NULL,
				bill_date CHAR(10) NOT NULL,
				status VARCHAR(12) NOT NULL,
				attempts INT NOT NULL,
				bill_payments INT NOT NULL,
				bill_payment_fen BIGINT NOT NULL,
				bill_refunds INT NOT NULL,
				bill_refund_fen BIGINT NOT NULL,
				bill_fee_milli_fen BIGINT NOT NULL,
				our_payments INT NOT NULL,
				our_payment_fen BIGINT NOT NULL,
				our_refunds INT NOT NULL,
				our_refund_fen BIGINT NOT NULL,
				matched INT NOT NULL,
				differences INT NOT NULL,
				open_differences INT NOT NULL,
				last_error VARCHAR(255) NULL,
				started_at {{time}} NOT NULL,
				finished_at {{time}} NULL,
				next_attempt_at {{time}} NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_recon_runs_day UNIQUE (provider, bill_date)
			){{table}}`,
			// One difference per (provider, day, kind, reference): a re-run
			// finds the same row, never a second one.
			`CREATE TABLE recon_differences (
				id {{id}},
				run_id BIGINT NOT NULL,
				provider VARCHAR(16) NOT NULL,
				bill_date CHAR(10) NOT NULL,
				kind VARCHAR(24) NOT NULL,
				ref VARCHAR(64) NOT NULL,
				order_no VARCHAR(64) NOT NULL,
				bill_value VARCHAR(255) NOT NULL,
				our_value VARCHAR(255) NOT NULL,
				state VARCHAR(12) NOT NULL,
				note VARCHAR(255) NULL,
				resolved_by VARCHAR(64) NULL,
				found_at {{time}} NOT NULL,
				resolved_at {{time}} NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_recon_differences UNIQUE (provider, bill_date, kind, ref),
				CONSTRAINT fk_recon_differences_run FOREIGN KEY (run_id) REFERENCES recon_runs (id)
			){{table}}`,
			`CREATE INDEX ix_recon_differences_state ON recon_differences (state, id)`,
			// The bill being reconciled, line by line: matched in the
			// database, so that memory stays flat however long the bill.
			// Emptied when the run ends.
			// Keyed by (run, line): lines arrive in file order, so InnoDB
			// appends them to its clustered index and deletes a run's lines
			// as one range.
			`CREATE TABLE recon_bill_lines (
				run_id BIGINT NOT NULL,
				line_no INT NOT NULL,
				kind VARCHAR(8) NOT NULL,
				order_no VARCHAR(64) NOT NULL,
				txn_id VARCHAR(64) NOT NULL,
				refund_no VARCHAR(64) NOT NULL,
				amount_fen BIGINT NOT NULL,
				fee_milli_fen BIGINT NOT NULL,
				app_id VARCHAR(32) NOT NULL,
				mch_id VARCHAR(32) NOT NULL,
				billed_at {{time}} NOT NULL,
				PRIMARY KEY (run_id, line_no)
			){{table}}`,
			// One index: refunds are found by their order too (one refund
			// per order), and each index costs the insert of every line.
			`CREATE INDEX ix_recon_lines_order ON recon_bill_lines (run_id, kind, order_no)`,
			// Our refunds of a day, and undelivered credits by age.
			`CREATE INDEX ix_refunds_created ON refunds (created_at)`,
			`CREATE INDEX ix_credits_status ON credits (status, created_at)`,
		}},
		{25, "meter-only bindings", []string{
			// A binding made with the meter number alone (the digits printed
			// on an IoT meter) proves nothing about its holder: it sees the
			// balance, the delivery state and the user's own payments, not
			// the holder's name, address or history.
			`ALTER TABLE bindings ADD COLUMN meter_only BOOLEAN NOT NULL DEFAULT FALSE`,
		}},
		{26, "refusal counts", []string{
			// Requests refused by a rate limit, counted per day, kind and
			// subject (a user, a box): a flood adds to one row instead of
			// a row per request.
			`CREATE TABLE refusal_counts (
				id {{id}},
				day CHAR(10) NOT NULL,
				kind VARCHAR(32) NOT NULL,
				subject VARCHAR(64) NOT NULL,
				times BIGINT NOT NULL,
				first_at {{time}} NOT NULL,
				last_at {{time}} NOT NULL,
				CONSTRAINT ux_refusal_counts UNIQUE (day, kind, subject)
			){{table}}`,
		}},
		{27, "partner nonces", []string{
			// Every nonce a partner's signed request used, kept past the
			// signature's window: a replay inside the window collides with
			// the unique key, even after Redis lost its data. The janitor
			// deletes expired ones.
			`CREATE TABLE partner_nonces (
				id {{id}},
				partner_id VARCHAR(32) NOT NULL,
				nonce VARCHAR(64) NOT NULL,
				expires_at {{time}} NOT NULL,
				CONSTRAINT ux_partner_nonces UNIQUE (partner_id, nonce)
			){{table}}`,
			`CREATE INDEX ix_partner_nonces_expires ON partner_nonces (expires_at)`,
		}},
	}, append(append(append(append(append(consoleMigrations(), iotMigrations()...), kioskMigrations()...), ledgerMigrations()...),
		consoleLaterMigrations()...), unitsMigrations()...)...)
}

package models

// iotMigrations are issue 9's versions (45–54): the NB-IoT meters' delivery
// and the messages to customers. Kept apart so that the issues' ranges
// merge without touching each other.
func iotMigrations() []migration {
	return []migration{
		{45, "iot meters, reports, deliveries and commands", []string{
			// The platform side of an NB-IoT meter: its device id at the
			// platform, the highest report counter taken (a replayed or
			// twice-pushed report changes nothing: a compare-and-set), the
			// counter of the recharges sealed for it (never reused: the
			// GCM nonce), and its last authenticated state.
			`CREATE TABLE iot_meters (
				id {{id}},
				meter_number VARCHAR(20) NOT NULL,
				device_id VARCHAR(64) NOT NULL,
				report_counter BIGINT NOT NULL,
				command_counter BIGINT NOT NULL,
				last_applied_seq BIGINT NULL,
				unit INT NULL,
				balance BIGINT NULL,
				cumulative_centi_m3 BIGINT NULL,
				valve INT NULL,
				battery_mv INT NULL,
				signal_dbm INT NULL,
				meter_time {{time}} NULL,
				reported_at {{time}} NULL,
				online BOOLEAN NOT NULL,
				silent_alerted_at {{time}} NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_iot_meters_number UNIQUE (meter_number),
				CONSTRAINT ux_iot_meters_device UNIQUE (device_id)
			){{table}}`,
			`CREATE INDEX ix_iot_meters_reported ON iot_meters (reported_at)`,
			// Every authenticated report: the meter's history.
			`CREATE TABLE iot_reports (
				id {{id}},
				meter_number VARCHAR(20) NOT NULL,
				counter BIGINT NOT NULL,
				reason INT NOT NULL,
				last_applied_seq BIGINT NOT NULL,
				unit INT NOT NULL,
				balance BIGINT NOT NULL,
				cumulative_centi_m3 BIGINT NOT NULL,
				valve INT NOT NULL,
				battery_mv INT NOT NULL,
				signal_dbm INT NOT NULL,
				meter_time {{time}} NOT NULL,
				answered_counter BIGINT NOT NULL,
				result INT NOT NULL,
				answered_seq BIGINT NOT NULL,
				received_at {{time}} NOT NULL,
				CONSTRAINT ux_iot_reports UNIQUE (meter_number, counter)
			){{table}}`,
			// One delivery per IoT credit: where its recharge is. valid_until
			// is the latest not_after of its copies; cancel_* record a staff
			// refund waiting for the proof that no copy can land.
			`CREATE TABLE iot_deliveries (
				id {{id}},
				credit_id BIGINT NOT NULL,
				order_no VARCHAR(32) NOT NULL,
				account_id BIGINT NOT NULL,
				meter_number VARCHAR(20) NOT NULL,
				seq INT NOT NULL,
				unit VARCHAR(4) NOT NULL,
				amount BIGINT NOT NULL,
				state VARCHAR(12) NOT NULL,
				reason VARCHAR(64) NULL,
				copies INT NOT NULL,
				valid_until {{time}} NULL,
				next_at {{time}} NOT NULL,
				sent_at {{time}} NULL,
				delivered_at {{time}} NULL,
				applied_at {{time}} NULL,
				cancel_requested_at {{time}} NULL,
				cancel_by VARCHAR(64) NULL,
				cancel_reason VARCHAR(64) NULL,
				cancel_confirmed_at {{time}} NULL,
				unapplied_alerted_at {{time}} NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_iot_deliveries_credit UNIQUE (credit_id)
			){{table}}`,
			`CREATE INDEX ix_iot_deliveries_due ON iot_deliveries (state, next_at)`,
			`CREATE INDEX ix_iot_deliveries_meter ON iot_deliveries (meter_number, state)`,
			`CREATE INDEX ix_iot_deliveries_account ON iot_deliveries (account_id, id)`,
			// Every copy of a recharge sealed for the platform: its counter
			// (unique per meter) and not_after, and what the platform says.
			`CREATE TABLE iot_commands (
				id {{id}},
				delivery_id BIGINT NOT NULL,
				meter_number VARCHAR(20) NOT NULL,
				counter BIGINT NOT NULL,
				command_id VARCHAR(64) NULL,
				not_after {{time}} NOT NULL,
				state VARCHAR(12) NOT NULL,
				checked_at {{time}} NULL,
				created_at {{time}} NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_iot_commands_counter UNIQUE (meter_number, counter),
				CONSTRAINT fk_iot_commands_delivery FOREIGN KEY (delivery_id) REFERENCES iot_deliveries (id)
			){{table}}`,
			`CREATE INDEX ix_iot_commands_delivery ON iot_commands (delivery_id)`,
			`CREATE INDEX ix_iot_commands_command ON iot_commands (command_id)`,
			`CREATE INDEX ix_iot_commands_state ON iot_commands (state, checked_at)`,
		}},
		{46, "messages outbox", []string{
			// Messages to customers: one per (event, user) by the unique
			// key, sent by one replica at a time, retried with backoff,
			// given up after a day; refusals and quota errors recorded.
			`CREATE TABLE outbox_messages (
				id {{id}},
				event VARCHAR(32) NOT NULL,
				event_key VARCHAR(96) NOT NULL,
				user_id BIGINT NOT NULL,
				app_kind VARCHAR(8) NOT NULL,
				open_id VARCHAR(64) NOT NULL,
				template_id VARCHAR(64) NOT NULL,
				data_json TEXT NOT NULL,
				link VARCHAR(255) NULL,
				state VARCHAR(12) NOT NULL,
				attempts INT NOT NULL,
				next_at {{time}} NOT NULL,
				last_error VARCHAR(255) NULL,
				created_at {{time}} NOT NULL,
				sent_at {{time}} NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_outbox_event_user UNIQUE (event_key, user_id)
			){{table}}`,
			`CREATE INDEX ix_outbox_due ON outbox_messages (state, next_at)`,
			// Acceptances of mini-program subscribe messages: one send each.
			`CREATE TABLE message_subscriptions (
				id {{id}},
				user_id BIGINT NOT NULL,
				template_id VARCHAR(64) NOT NULL,
				credits INT NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_message_subscriptions UNIQUE (user_id, template_id)
			){{table}}`,
			// An account's own low-balance threshold (default 10 yuan).
			`CREATE TABLE message_settings (
				id {{id}},
				account_id BIGINT NOT NULL,
				low_balance_fen BIGINT NOT NULL,
				updated_at {{time}} NOT NULL,
				CONSTRAINT ux_message_settings_account UNIQUE (account_id)
			){{table}}`,
			// How far the producer has looked for events.
			`CREATE TABLE outbox_cursors (
				id {{id}},
				name VARCHAR(32) NOT NULL,
				at {{time}} NOT NULL,
				CONSTRAINT ux_outbox_cursors UNIQUE (name)
			){{table}}`,
		}},
	}
}

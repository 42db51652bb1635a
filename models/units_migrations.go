package models

// unitsMigrations are issue 15's units versions (85–89). Volume was named
// "cm3", which reads as a cubic centimetre although it always meant 0.01
// m3: columns and the stored unit become centi_m3.
//
// SQLite renames a column with RENAME COLUMN (3.25+); MariaDB only from
// 10.5, so MySQL-family servers use CHANGE, which every MariaDB 10.x, MySQL
// and TiDB take, restating each column's type. There the unit columns also
// widen from VARCHAR(4) to hold "centi_m3" (SQLite does not enforce a
// VARCHAR length). A binary older than 85 cannot run on the renamed schema.
func unitsMigrations() []migration {
	return []migration{
		{85, "volume in centi_m3", []string{
			`{{sqlite}}ALTER TABLE orders RENAME COLUMN volume_cm3 TO volume_centi_m3`,
			`{{sqlite}}ALTER TABLE accounts RENAME COLUMN ytd_volume_cm3 TO ytd_volume_centi_m3`,
			`{{sqlite}}ALTER TABLE tariff_tiers RENAME COLUMN upper_cm3 TO upper_centi_m3`,
			`{{sqlite}}ALTER TABLE tariff_version_tiers RENAME COLUMN upper_cm3 TO upper_centi_m3`,
			`{{mysql}}ALTER TABLE orders CHANGE volume_cm3 volume_centi_m3 BIGINT NOT NULL,
				MODIFY credit_unit VARCHAR(8) NOT NULL`,
			`{{mysql}}ALTER TABLE accounts CHANGE ytd_volume_cm3 ytd_volume_centi_m3 BIGINT NOT NULL DEFAULT 0`,
			`{{mysql}}ALTER TABLE tariff_tiers CHANGE upper_cm3 upper_centi_m3 BIGINT NULL`,
			`{{mysql}}ALTER TABLE tariff_version_tiers CHANGE upper_cm3 upper_centi_m3 BIGINT NULL`,
			`{{mysql}}ALTER TABLE credits MODIFY unit VARCHAR(8) NOT NULL`,
			`{{mysql}}ALTER TABLE iot_deliveries MODIFY unit VARCHAR(8) NOT NULL`,
			`UPDATE orders SET credit_unit = 'centi_m3' WHERE credit_unit = 'cm3'`,
			`UPDATE credits SET unit = 'centi_m3' WHERE unit = 'cm3'`,
			`UPDATE iot_deliveries SET unit = 'centi_m3' WHERE unit = 'cm3'`,
		}},
	}
}

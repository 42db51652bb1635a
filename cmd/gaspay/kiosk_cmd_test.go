package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"gaspay/internal/testenv"
	"gaspay/models"
)

func TestKioskCommands(t *testing.T) {
	vars := map[string]string{"GASPAY_DATA_DIR": t.TempDir()}
	var db *models.Store
	if testenv.UsingMySQL() {
		raw := testenv.RawDB(t)
		vars["GASPAY_MYSQL_DSN"] = testenv.MySQLDSN(t, raw)
		db = models.NewStore(raw)
	}
	getenv := func(k string) string { return vars[k] }
	dir := t.TempDir()
	key := filepath.Join(dir, "k.key")
	os.WriteFile(key, []byte(" kiosk-secret-0123456789abcdef\n"), 0o600)
	ctx := context.Background()
	var out bytes.Buffer
	for _, bad := range [][]string{
		{"kiosk", "add", "--id", "K-0001", "--key-file", key},                             // a new kiosk needs its reader
		{"kiosk", "add", "--id", "K-0001", "--key-file", key, "--box-id", "4B0000000001"}, // 12 digits
		{"kiosk", "add", "--id", "K_1", "--key-file", key, "--box-id", "4B00000000000001"},
		{"kiosk", "disable", "--id", "K-9999"},
	} {
		if err := run(ctx, bad, getenv, &out, &out); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
	if err := run(ctx, []string{"kiosk", "add", "--id", "K-0001", "--key-file", key, "--box-id", "4b00000000000001"}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	// Re-keyed without naming the reader again: it keeps its reader.
	if err := run(ctx, []string{"kiosk", "add", "--id", "K-0001", "--key-file", key}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"kiosk", "disable", "--id", "K-0001"}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	if db == nil {
		gdb, err := models.OpenSQLite(filepath.Join(vars["GASPAY_DATA_DIR"], "gaspay.db"), testenv.Logger())
		if err != nil {
			t.Fatal(err)
		}
		defer models.Close(gdb)
		db = models.NewStore(gdb)
	}
	k, err := db.KioskByID(ctx, "K-0001")
	if err != nil || k.Active || k.BoxID != "4B00000000000001" || k.Secret != "kiosk-secret-0123456789abcdef" {
		t.Fatalf("%+v %v", k, err)
	}
}

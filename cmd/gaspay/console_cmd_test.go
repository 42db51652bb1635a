package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStaffAndImportCommands(t *testing.T) {
	getenv := environment(t, nil)
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("a-long-password-1\n"), 0o600)
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"staff", "add", "--name", "lin", "--role", "operator", "--password-file", pw}, getenv, &out, &out); err != nil ||
		!strings.Contains(out.String(), "added lin (operator)") {
		t.Fatalf("staff add: %v %s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"staff", "add", "--name", "root", "--role", "admin", "--password-file", pw, "--totp"}, getenv, &out, &out); err != nil ||
		!strings.Contains(out.String(), "otpauth://totp/gaspay:root?secret=") {
		t.Fatalf("staff add --totp: %v %s", err, out.String())
	}
	if err := run(ctx, []string{"staff", "add", "--name", "lin", "--role", "viewer", "--password-file", pw}, getenv, &out, &out); err == nil {
		t.Fatal("a second lin was added")
	}
	if err := run(ctx, []string{"staff", "add", "--name", "x1", "--role", "boss", "--password-file", pw}, getenv, &out, &out); err == nil {
		t.Fatal("an unknown role was accepted")
	}
	for _, args := range [][]string{{"staff", "disable", "--name", "lin"}, {"staff", "reset-password", "--name", "lin", "--password-file", pw}} {
		if err := run(ctx, args, getenv, &out, &out); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	if err := run(ctx, []string{"staff", "disable", "--name", "nobody"}, getenv, &out, &out); err == nil {
		t.Fatal("disabled nobody")
	}

	accounts := filepath.Join(dir, "accounts.csv")
	os.WriteFile(accounts, []byte("user_number,holder_name,address,phone,kind,meter_number,card_serial,card_type,balance_fen\n"+
		"031120001,王洪,人民路18号,,ordinary,0312000101,,,0\n"), 0o600)
	if err := run(ctx, []string{"import", "accounts", accounts}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	bills := filepath.Join(dir, "bills.csv")
	os.WriteFile(bills, []byte("user_number,period,amount_fen,due_date\n031120001,2026-10,8640,2026-11-15\n"), 0o600)
	out.Reset()
	if err := run(ctx, []string{"import", "bills", bills}, getenv, &out, &out); err != nil || !strings.Contains(out.String(), "1 bills") {
		t.Fatalf("import bills: %v %s", err, out.String())
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("meter_number,read_at,reading_centi_m3\n0312000101,2026-11-01,123456\n999,2026-11-01,1\n"), 0o600)
	if err := run(ctx, []string{"import", "readings", bad}, getenv, &out, &out); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("bad readings: %v", err)
	}
	if err := run(ctx, []string{"import", "resume"}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
}

package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.PublicURL != "http://localhost:8080" || c.DataDir != "data" || c.BindingLimit != 5 ||
		c.PurchaseLimitFen != 150000 || c.Production() || !c.WeChatSandbox() || !c.WeChatPaySandbox() || len(c.EmbeddedParts()) != 8 {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestProductionRefusesEveryEmbeddedPart(t *testing.T) {
	_, err := Load(env(map[string]string{"GASPAY_ENV": "production"}))
	if err == nil {
		t.Fatal("production started on embedded defaults")
	}
	for _, part := range []string{"SQLite", "in-process Redis", "sandbox WeChat API", "sandbox WeChat Pay", "sandbox box master key", "sandbox Alipay", "sandbox meter master key", "sandbox meter platform", "https", "GASPAY_ADMIN_TOKEN"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error does not name %q:\n%v", part, err)
		}
	}
	full := map[string]string{
		"GASPAY_ENV": "production", "GASPAY_PUBLIC_URL": "https://pay.example.com",
		"GASPAY_MYSQL_DSN": "gaspay:pw@tcp(db:3306)/gaspay", "GASPAY_REDIS_URL": "redis://redis:6379/0",
		"GASPAY_WECHAT_MP_APPID": "wxmp", "GASPAY_WECHAT_MP_SECRET": "a", "GASPAY_WECHAT_OA_APPID": "wxoa", "GASPAY_WECHAT_OA_SECRET": "b",
		"GASPAY_ADMIN_TOKEN": strings.Repeat("t", 32),
		"GASPAY_WXPAY_MCHID": "1900000109", "GASPAY_WXPAY_SERIAL_NO": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
		"GASPAY_WXPAY_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----", "GASPAY_WXPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0119000001092025",
		"GASPAY_WXPAY_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----", "GASPAY_WXPAY_APIV3_KEY": strings.Repeat("k", 32),
		"GASPAY_BOX_MASTER_KEY_FILE": masterKeyFile(t),
		"GASPAY_ALIPAY_APPID":        "2021000000000001", "GASPAY_ALIPAY_PRIVATE_KEY": "MIIE…", "GASPAY_ALIPAY_PUBLIC_KEY": "MIIB…",
		"GASPAY_METER_MASTER_KEY_FILE": masterKeyFile(t),
		"GASPAY_CTWING_APP_KEY":        "dAaFG7DiPt8", "GASPAY_CTWING_APP_SECRET": "s", "GASPAY_CTWING_MASTER_KEY": "m", "GASPAY_CTWING_PRODUCT_ID": "10000577",
	}
	if _, err := Load(env(full)); err != nil {
		t.Fatalf("complete production config refused: %v", err)
	}
	// The sandbox meter master key is public: production refuses it even
	// from a file.
	sandboxKey := filepath.Join(t.TempDir(), "meter.key")
	os.WriteFile(sandboxKey, []byte(SandboxMeterMasterKey+"\n"), 0o600)
	full["GASPAY_METER_MASTER_KEY_FILE"] = sandboxKey
	if _, err := Load(env(full)); err == nil || !strings.Contains(err.Error(), "sandbox meter master key") {
		t.Fatalf("sandbox meter key in production: %v", err)
	}
	full["GASPAY_METER_MASTER_KEY_FILE"] = masterKeyFile(t)
	full["GASPAY_WXPAY_APIV3_KEY"] = "short"
	if _, err := Load(env(full)); err == nil || !strings.Contains(err.Error(), "APIV3_KEY") {
		t.Fatalf("short APIv3 key: %v", err)
	}
	delete(full, "GASPAY_WXPAY_APIV3_KEY")
	if _, err := Load(env(full)); err == nil {
		t.Fatal("a merchant without its APIv3 key accepted")
	}
}

func TestInvalidValues(t *testing.T) {
	for k, v := range map[string]string{
		"GASPAY_ENV": "staging", "GASPAY_SESSION_TTL": "soon", "GASPAY_BINDING_LIMIT": "five", "GASPAY_PUBLIC_URL": "pay.example.com",
		"GASPAY_WECHAT_MP_APPID": "wx-only-id", "GASPAY_OA_NEXT_PATHS": "//evil", "GASPAY_TRUSTED_PROXIES": "not-an-ip",
		"GASPAY_LOG_LEVEL": "loud", "GASPAY_PURCHASE_LIMIT_FEN": "0",
	} {
		if _, err := Load(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k[:len("GASPAY_")+3]) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}

func TestSecretsFromFilesAndMasked(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "dsn")
	const dsn = "gaspay:hunter2@tcp(db:3306)/gaspay"
	os.WriteFile(file, []byte(dsn+"\n"), 0o600)
	c, err := Load(env(map[string]string{"GASPAY_MYSQL_DSN_FILE": file}))
	if err != nil || c.MySQLDSN.Reveal() != dsn {
		t.Fatalf("from file: %q %v", c.MySQLDSN.Reveal(), err)
	}
	js, _ := json.Marshal(c)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", slog.Any("c", c), slog.Any("dsn", c.MySQLDSN))
	for _, out := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(c.MySQLDSN), string(js), logged.String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if _, err := Load(env(map[string]string{"GASPAY_MYSQL_DSN_FILE": file, "GASPAY_MYSQL_DSN": dsn})); err == nil {
		t.Error("both DSN and DSN_FILE accepted")
	}
	_, err = Load(env(map[string]string{"GASPAY_REDIS_URL_FILE": filepath.Join(dir, "missing")}))
	if err == nil {
		t.Error("missing secret file accepted")
	}
}

func masterKeyFile(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "box-master.key")
	if err := os.WriteFile(f, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

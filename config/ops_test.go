package config

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// productionEnv is a complete production configuration.
func productionEnv(t *testing.T) map[string]string {
	return map[string]string{
		"GASPAY_ENV": "production", "GASPAY_PUBLIC_URL": "https://pay.example.com",
		"GASPAY_MYSQL_DSN": "gaspay:hunter2@tcp(db:3306)/gaspay", "GASPAY_REDIS_URL": "redis://:s3cret@redis:6379/0",
		"GASPAY_WECHAT_MP_APPID": "wxmp", "GASPAY_WECHAT_MP_SECRET": "mp-secret-value", "GASPAY_WECHAT_OA_APPID": "wxoa", "GASPAY_WECHAT_OA_SECRET": "oa-secret-value",
		"GASPAY_ADMIN_TOKEN": strings.Repeat("t", 32),
		"GASPAY_WXPAY_MCHID": "1900000109", "GASPAY_WXPAY_SERIAL_NO": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
		"GASPAY_WXPAY_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----", "GASPAY_WXPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0119000001092025",
		"GASPAY_WXPAY_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----", "GASPAY_WXPAY_APIV3_KEY": strings.Repeat("k", 32),
		"GASPAY_BOX_MASTER_KEY_FILE": masterKeyFile(t),
		"GASPAY_ALIPAY_APPID":        "2021000000000001", "GASPAY_ALIPAY_PRIVATE_KEY": "MIIE…", "GASPAY_ALIPAY_PUBLIC_KEY": "MIIB…",
	}
}

var hex64 = regexp.MustCompile(`\b[0-9a-fA-F]{64}\b`)

// Every 64-hex-digit string in the repository's documentation and tests
// is a published key: production refuses each as the box master key.
func TestProductionRefusesEveryPublishedBoxKey(t *testing.T) {
	found := map[string]bool{}
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "data") {
			return filepath.SkipDir
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".md") || strings.HasSuffix(p, ".txt") || strings.HasSuffix(p, ".json")) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, k := range hex64.FindAllString(string(b), -1) {
			found[strings.ToLower(k)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found["000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"] {
		t.Fatal("the scan did not find the spec's test-vector key: it scans the wrong place")
	}
	for k := range found {
		e := productionEnv(t)
		f := filepath.Join(t.TempDir(), "key")
		os.WriteFile(f, []byte(strings.ToUpper(k)+"\n"), 0o600)
		e["GASPAY_BOX_MASTER_KEY_FILE"] = f
		_, err := Load(env(e))
		if err == nil || !strings.Contains(err.Error(), "published") {
			t.Errorf("production accepted the published key %s…: %v (add it to publishedBoxKeys)", k[:8], err)
		}
	}
	if _, err := Load(env(productionEnv(t))); err != nil {
		t.Fatalf("an unpublished key refused: %v", err)
	}
}

func TestProductionRefusesPlainHTTPProviders(t *testing.T) {
	for _, k := range []string{"GASPAY_WXPAY_BASE_URL", "GASPAY_ALIPAY_GATEWAY", "GASPAY_WECHAT_API_BASE", "GASPAY_WECHAT_OAUTH_URL"} {
		e := productionEnv(t)
		e[k] = "http://10.0.0.5:8080"
		if _, err := Load(env(e)); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s over plain http: %v", k, err)
		}
		e[k] = "https://gateway.example.com"
		if _, err := Load(env(e)); err != nil {
			t.Errorf("%s over https refused: %v", k, err)
		}
		// Development may use plain http (fakes on loopback).
		if _, err := Load(env(map[string]string{k: "http://127.0.0.1:9"})); err != nil {
			t.Errorf("%s in development: %v", k, err)
		}
	}
}

func TestOrderTTLBounds(t *testing.T) {
	for v, ok := range map[string]bool{"1m": false, "119s": false, "2m": true, "15m": true, "2h": true, "2h1s": false} {
		_, err := Load(env(map[string]string{"GASPAY_ORDER_TTL": v}))
		if (err == nil) != ok {
			t.Errorf("GASPAY_ORDER_TTL=%s: %v", v, err)
		}
	}
}

func TestNewLimits(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MeterBindDailyLimit != 5 || c.OrderRateLimit != 10 || c.OrderRateWindow != 10*time.Minute || c.BoxOpenLimit != 30 || c.MetricsAddr != "" {
		t.Fatalf("defaults: %+v", c)
	}
	for _, k := range []string{"GASPAY_METER_BIND_DAILY_LIMIT", "GASPAY_ORDER_RATE_LIMIT", "GASPAY_BOX_OPEN_LIMIT"} {
		if _, err := Load(env(map[string]string{k: "0"})); err == nil || !strings.Contains(err.Error(), k[:len("GASPAY_")+5]) {
			t.Errorf("%s=0: %v", k, err)
		}
	}
}

// The effective configuration names every variable with its value, the
// defaults marked, and never a secret's value.
func TestEffectiveConfigLoggedMasked(t *testing.T) {
	e := productionEnv(t)
	c, err := Load(env(e))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("configuration", c.LogAttrs()...)
	out := buf.String()
	for _, secret := range []string{"hunter2", "s3cret", "mp-secret-value", "kkkkkkkk", "tttttttt", "BEGIN PRIVATE KEY"} {
		if strings.Contains(out, secret) {
			t.Errorf("secret %q logged: %s", secret, out)
		}
	}
	for _, want := range []string{`"GASPAY_ENV":"production"`, `"GASPAY_MYSQL_DSN":"[redacted]"`, `"GASPAY_ORDER_TTL":"15m0s (default)"`,
		`"GASPAY_WXPAY_MCHID":"1900000109"`, `"GASPAY_METER_BIND_DAILY_LIMIT":"5 (default)"`, `"GASPAY_LOG_LEVEL":"info (default)"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
}

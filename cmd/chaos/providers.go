package main

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"gaspay/alipay/alipayfake"
	"gaspay/wechat/wxfake"
	"gaspay/wechat/wxpay/wxpayfake"
)

// The providers' identities in the chaos world.
const (
	mpAppID     = "wxchaosminiprog1"
	mpSecret    = "chaos-mp-secret-0123456789"
	oaAppID     = "wxchaosofficial1"
	oaSecret    = "chaos-oa-secret-0123456789"
	mchID       = "1900000109"
	alipayAppID = "2021000000000777"
)

// providersInfo is what the providers process tells the driver: the
// replicas' provider settings and its control address.
type providersInfo struct {
	Env     map[string]string `json:"env"`
	Control string            `json:"control"`
}

// runProviders is the providers process: fake WeChat, WeChat Pay and
// Alipay speaking their real wire protocols, in a process of their own so
// that they outlive every kill of a replica. It writes providersInfo to
// infoFile and serves until killed.
func runProviders(infoFile string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	wx := wxfake.New(map[string]string{mpAppID: mpSecret, oaAppID: oaSecret})
	keys, err := wxpayfake.NewKeys()
	if err != nil {
		return err
	}
	pcfg := keys.Config(mchID, mpAppID, oaAppID)
	// Like WeChat Pay, only sooner: an unacknowledged notification (the
	// replica was killed) is sent again.
	pcfg.NotifyRetries = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 30 * time.Second}
	pcfg.AutoCompleteRefunds, pcfg.RefundDelay = true, 500*time.Millisecond
	pay, err := wxpayfake.New(pcfg)
	if err != nil {
		return err
	}
	defer pay.Close()
	akeys, err := alipayfake.NewKeys()
	if err != nil {
		return err
	}
	ali, err := alipayfake.New(alipayfake.Config{AppID: alipayAppID, AppPublicKey: akeys.AppPublicKey, AlipayPrivateKey: akeys.AlipayPrivateKey})
	if err != nil {
		return err
	}
	serve := func(h http.Handler) (string, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		go (&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}).Serve(ln)
		return "http://" + ln.Addr().String(), nil
	}
	wxURL, err := serve(wx)
	if err != nil {
		return err
	}
	payURL, err := serve(pay)
	if err != nil {
		return err
	}
	aliURL, err := serve(ali)
	if err != nil {
		return err
	}
	ctl, err := serve(control(pay, ali))
	if err != nil {
		return err
	}
	info := providersInfo{Control: ctl, Env: map[string]string{
		"GASPAY_WECHAT_API_BASE":     wxURL,
		"GASPAY_WECHAT_OAUTH_URL":    wxURL + "/connect/oauth2/authorize",
		"GASPAY_WECHAT_MP_APPID":     mpAppID,
		"GASPAY_WECHAT_MP_SECRET":    mpSecret,
		"GASPAY_WECHAT_OA_APPID":     oaAppID,
		"GASPAY_WECHAT_OA_SECRET":    oaSecret,
		"GASPAY_WXPAY_MCHID":         mchID,
		"GASPAY_WXPAY_SERIAL_NO":     keys.MerchantSerialNo,
		"GASPAY_WXPAY_PRIVATE_KEY":   pemPrivate(keys.MerchantKey),
		"GASPAY_WXPAY_PUBLIC_KEY_ID": keys.PlatformPublicKeyID,
		"GASPAY_WXPAY_PUBLIC_KEY":    pemPublic(&keys.PlatformKey.PublicKey),
		"GASPAY_WXPAY_APIV3_KEY":     keys.APIv3Key,
		"GASPAY_WXPAY_BASE_URL":      payURL,
		"GASPAY_ALIPAY_APPID":        alipayAppID,
		"GASPAY_ALIPAY_PRIVATE_KEY":  akeys.AppPrivateKey,
		"GASPAY_ALIPAY_PUBLIC_KEY":   akeys.AlipayPublicKey,
		"GASPAY_ALIPAY_GATEWAY":      aliURL + alipayfake.GatewayPath,
	}}
	b, _ := json.Marshal(info)
	if err := os.WriteFile(infoFile+".tmp", b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(infoFile+".tmp", infoFile); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "providers ready")
	<-ctx.Done()
	return nil
}

// txnState is a provider's view of one order, for the final comparison.
type txnState struct {
	Found bool   `json:"found"`
	Paid  bool   `json:"paid"`
	State string `json:"state"`
	Fen   int64  `json:"fen"`
}

// control lets the driver play the customers (pay) and read the
// providers' books (query).
func control(pay *wxpayfake.Server, ali *alipayfake.Server) http.Handler {
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, v any, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /wechat/pay/{no}", func(w http.ResponseWriter, r *http.Request) {
		res, err := pay.Pay(r.Context(), r.PathValue("no"), "")
		answer(w, map[string]any{"acknowledged": res.Acknowledged()}, err)
	})
	mux.HandleFunc("POST /alipay/pay/{no}", func(w http.ResponseWriter, r *http.Request) {
		res, err := ali.Pay(r.Context(), r.PathValue("no"), r.URL.Query().Get("buyer"))
		answer(w, map[string]any{"acknowledged": res.Acknowledged}, err)
	})
	mux.HandleFunc("GET /wechat/order/{no}", func(w http.ResponseWriter, r *http.Request) {
		o, ok := pay.Order(r.PathValue("no"))
		answer(w, txnState{Found: ok, Paid: ok && (o.State == wxpayfake.StateSuccess || o.State == wxpayfake.StateRefund), State: o.State, Fen: o.TotalFen}, nil)
	})
	mux.HandleFunc("GET /alipay/order/{no}", func(w http.ResponseWriter, r *http.Request) {
		t, ok := ali.Trade(r.PathValue("no"))
		paid := ok && (t.Status == alipayfake.StatusSuccess || t.Status == alipayfake.StatusFinished || t.PaidAt != time.Time{})
		answer(w, txnState{Found: ok, Paid: paid, State: t.Status, Fen: t.TotalFen}, nil)
	})
	return mux
}

func pemPrivate(k *rsa.PrivateKey) string {
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func pemPublic(k *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

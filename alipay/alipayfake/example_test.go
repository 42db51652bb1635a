package alipayfake_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"gaspay/alipay"
	"gaspay/alipay/alipayfake"
)

// Example wires the sandbox as the server does: the fake on a loopback
// listener, the real client pointed at it, a customer paying.
func Example() {
	keys, err := alipayfake.NewKeys()
	if err != nil {
		log.Fatal(err)
	}
	const appID = "2021000000000001"
	fake, err := alipayfake.New(alipayfake.Config{
		AppID:            appID,
		AppPublicKey:     keys.AppPublicKey,
		AlipayPrivateKey: keys.AlipayPrivateKey,
	})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	client, err := alipay.New(alipay.Config{
		AppID:           appID,
		AppPrivateKey:   keys.AppPrivateKey,
		AlipayPublicKey: keys.AlipayPublicKey,
		GatewayURL:      "http://" + ln.Addr().String() + alipayfake.GatewayPath,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if _, err := client.Create(ctx, alipay.CreateRequest{
		OutTradeNo: "G20240501001", Subject: "gas", AmountFen: 5000, BuyerOpenID: "open-1",
	}); err != nil {
		log.Fatal(err)
	}
	// The sandbox's "customer pays" endpoint calls Pay; with a notify_url
	// the fake would also post the signed notification.
	if _, err := fake.Pay(ctx, "G20240501001", ""); err != nil {
		log.Fatal(err)
	}
	t, err := client.Query(ctx, "G20240501001")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.Status, alipay.FenToYuan(t.TotalFen))
	// Output: TRADE_SUCCESS 50.00
}

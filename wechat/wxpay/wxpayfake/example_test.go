package wxpayfake_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"gaspay/wechat/wxpay"
	"gaspay/wechat/wxpay/wxpayfake"
)

// Example wires the fake the way the sandbox does: one set of keys for both
// sides, the fake on a listener, the real client pointed at it with
// BaseURL, and the merchant's notification endpoint parsing with the same
// client.
func Example() {
	ctx := context.Background()
	keys, err := wxpayfake.NewKeys()
	if err != nil {
		panic(err)
	}
	fake, err := wxpayfake.New(keys.Config("1900000109", "wxd678efh567hg6787"))
	if err != nil {
		panic(err)
	}
	defer fake.Close()
	api := httptest.NewServer(fake) // the sandbox uses a loopback listener
	defer api.Close()

	client, err := wxpay.New(wxpay.Config{
		MchID:               "1900000109",
		MerchantSerialNo:    keys.MerchantSerialNo,
		MerchantKey:         keys.MerchantKey,
		PlatformPublicKeyID: keys.PlatformPublicKeyID,
		PlatformPublicKey:   &keys.PlatformKey.PublicKey,
		APIv3Key:            keys.APIv3Key,
		BaseURL:             api.URL,
		HTTPClient:          &http.Client{Timeout: 5 * time.Second},
	})
	if err != nil {
		panic(err)
	}
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := client.ParsePaymentNotification(r)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Println("notified:", n.EventType, n.Resource.OutTradeNo, n.Resource.TotalFen, "fen")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer merchant.Close()

	if _, err := client.PrepayJSAPI(ctx, wxpay.PrepayRequest{
		AppID: "wxd678efh567hg6787", OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", OutTradeNo: "GAS20240501000001",
		Description: "燃气充值", AmountFen: 5000, NotifyURL: merchant.URL + "/wxpay/notify",
	}); err != nil {
		panic(err)
	}
	// The customer pays (the sandbox's "pay" button calls this).
	res, err := fake.Pay(ctx, "GAS20240501000001", "")
	if err != nil {
		panic(err)
	}
	fmt.Println("acknowledged:", res.Acknowledged())

	tx, err := client.Query(ctx, "GAS20240501000001")
	if err != nil {
		panic(err)
	}
	fmt.Println("queried:", tx.State, tx.State.Paid())
	// Output:
	// notified: TRANSACTION.SUCCESS GAS20240501000001 5000 fen
	// acknowledged: true
	// queried: SUCCESS true
}

package wxpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"unicode/utf8"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
)

// CodePayRequest charges a payment code (付款码) scanned at a kiosk.
type CodePayRequest struct {
	AppID string // the kiosk's app id
	// AuthCode is the 18-digit code read from the customer's screen,
	// starting 10 to 15. It is single use.
	AuthCode    string
	OutTradeNo  string // 6–32 of [0-9A-Za-z_-|*]
	Description string // at most 127 characters
	AmountFen   int64  // positive
	Attach      string // echoed back
	// StoreID is our id of the store or kiosk (scene_info.store_info.out_id).
	StoreID string
	// DeviceIP is the kiosk's IP address, optional.
	DeviceIP string
}

type codePayBody struct {
	AppID       string        `json:"appid"`
	MchID       string        `json:"mchid"`
	Description string        `json:"description"`
	OutTradeNo  string        `json:"out_trade_no"`
	Attach      string        `json:"attach,omitempty"`
	Payer       codePayPayer  `json:"payer"`
	Amount      codePayAmount `json:"amount"`
	SceneInfo   codePayScene  `json:"scene_info"`
}

type codePayPayer struct {
	AuthCode string `json:"auth_code"`
}

type codePayAmount struct {
	Total    int64  `json:"total"`
	Currency string `json:"currency"`
}

type codePayScene struct {
	DeviceIP  string           `json:"device_ip,omitempty"`
	StoreInfo codePayStoreInfo `json:"store_info"`
}

type codePayStoreInfo struct {
	OutID string `json:"out_id"`
}

// validAuthCode reports whether code looks like a WeChat payment code: 18
// digits starting 10 to 15. Anything else is another wallet's code or a
// misread, not worth a round trip.
func validAuthCode(code string) bool {
	if len(code) != 18 || code[0] != '1' || code[1] > '5' {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// CodePay charges a payment code. The SDK has no codepay service, so this
// posts our own structs through the SDK's signing client.
//
// The result's State is SUCCESS when paid, or USERPAYING when the customer
// must confirm with a password: then poll Query every 3–5 s and Reverse if
// not paid within 45 s. A payment code has no notification. After an
// *APIError (e.g. NOT_ENOUGH) the order is not paid; Reverse it anyway so
// that every payment-code order ends SUCCESS, CLOSED or REVOKED. After an
// unknown outcome, Query: the money may have been taken.
func (c *Client) CodePay(ctx context.Context, req CodePayRequest) (Transaction, error) {
	op := "wxpay: codepay " + req.OutTradeNo
	switch {
	case req.AppID == "":
		return Transaction{}, fmt.Errorf("%s: %w", op, invalid("appid is required"))
	case !validAuthCode(req.AuthCode):
		return Transaction{}, fmt.Errorf("%s: %w", op, invalid("auth code must be 18 digits starting 10-15"))
	case !validOutTradeNo(req.OutTradeNo):
		return Transaction{}, fmt.Errorf("%s: %w", op, invalid("out_trade_no must be 6-32 characters of [0-9A-Za-z_-|*]"))
	case req.Description == "" || utf8.RuneCountInString(req.Description) > 127:
		return Transaction{}, fmt.Errorf("%s: %w", op, invalid("description must be 1-127 characters"))
	case req.AmountFen <= 0:
		return Transaction{}, fmt.Errorf("%s: %w", op, invalid("amount must be positive, got %d fen", req.AmountFen))
	case req.StoreID == "":
		return Transaction{}, fmt.Errorf("%s: %w", op, invalid("store id is required"))
	}
	waiting := Transaction{
		AppID:      req.AppID,
		MchID:      c.mchID,
		OutTradeNo: req.OutTradeNo,
		TradeType:  "MICROPAY",
		State:      TradeUserPaying,
		TotalFen:   req.AmountFen,
		Currency:   "CNY",
		Attach:     req.Attach,
	}
	result, err := c.core.Post(ctx, consts.WechatPayAPIServer+"/v3/pay/transactions/codepay", codePayBody{
		AppID:       req.AppID,
		MchID:       c.mchID,
		Description: req.Description,
		OutTradeNo:  req.OutTradeNo,
		Attach:      req.Attach,
		Payer:       codePayPayer{AuthCode: req.AuthCode},
		Amount:      codePayAmount{Total: req.AmountFen, Currency: "CNY"},
		SceneInfo:   codePayScene{DeviceIP: req.DeviceIP, StoreInfo: codePayStoreInfo{OutID: req.StoreID}},
	})
	defer closeResult(result)
	if err != nil {
		var ae *core.APIError
		if errors.As(err, &ae) && ae.Code == "USERPAYING" {
			return waiting, nil
		}
		return Transaction{}, fail(op, result, err)
	}
	body, err := io.ReadAll(result.Response.Body)
	if err != nil {
		return Transaction{}, fmt.Errorf("%s: %w", op, unknown(err))
	}
	// The waiting case comes back as a 2xx with an error-shaped body
	// ({"code":"USERPAYING"}); accept a transaction saying USERPAYING too.
	var coded struct {
		Code string `json:"code"`
	}
	var t payments.Transaction
	if err := json.Unmarshal(body, &coded); err != nil {
		return Transaction{}, fmt.Errorf("%s: %w", op, unknown(err))
	}
	if coded.Code == "USERPAYING" {
		return waiting, nil
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return Transaction{}, fmt.Errorf("%s: %w", op, unknown(err))
	}
	tx, err := toTransaction(&t)
	if err != nil {
		return Transaction{}, fmt.Errorf("%s: %w", op, unknown(err))
	}
	if tx.OutTradeNo != req.OutTradeNo {
		return Transaction{}, fmt.Errorf("%s: %w", op, unknown(fmt.Errorf("answer is for order %s", tx.OutTradeNo)))
	}
	return tx, nil
}

type reverseBody struct {
	AppID string `json:"appid"`
	MchID string `json:"mchid"`
}

// Reverse (撤销) cancels a payment-code order: an unpaid one can no longer
// be paid, a paid one is refunded. It is idempotent; retry until it returns
// nil. Only payment-code orders can be reversed.
func (c *Client) Reverse(ctx context.Context, appID, outTradeNo string) error {
	op := "wxpay: reverse " + outTradeNo
	switch {
	case appID == "":
		return fmt.Errorf("%s: %w", op, invalid("appid is required"))
	case !validOutTradeNo(outTradeNo):
		return fmt.Errorf("%s: %w", op, invalid("out_trade_no must be 6-32 characters of [0-9A-Za-z_-|*]"))
	}
	u := consts.WechatPayAPIServer + "/v3/pay/transactions/out-trade-no/" + url.PathEscape(outTradeNo) + "/reverse"
	result, err := c.core.Post(ctx, u, reverseBody{AppID: appID, MchID: c.mchID})
	defer closeResult(result)
	if err != nil {
		return fail(op, result, err)
	}
	return nil
}

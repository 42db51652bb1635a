package wxpay

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"

	"gaspay/internal/beijing"
)

// MaxBillBytes bounds a downloaded trade bill, which is held in memory. A
// day of a city's gas payments is a few megabytes.
const MaxBillBytes = 256 << 20

// TradeBill downloads the ALL trade bill of day (its date in Beijing time)
// and checks it against the SHA1 WeChat gives. The file is WeChat's text
// format: a header line, one line per trade or refund with every field
// prefixed by a backtick, then two summary lines. Bills are ready after
// 10:00 the next day; before that, and for a day without trade, the error
// is ErrNoBill.
func (c *Client) TradeBill(ctx context.Context, day time.Time) ([]byte, error) {
	date := day.In(beijing.Location()).Format(time.DateOnly)
	op := "wxpay: trade bill " + date
	q := url.Values{"bill_date": {date}, "bill_type": {"ALL"}}
	result, err := c.core.Get(ctx, consts.WechatPayAPIServer+"/v3/bill/tradebill?"+q.Encode())
	defer closeResult(result)
	if err != nil {
		return nil, fail(op, result, err)
	}
	var meta struct {
		DownloadURL string `json:"download_url"`
		HashType    string `json:"hash_type"`
		HashValue   string `json:"hash_value"`
	}
	if err := core.UnMarshalResponse(result.Response, &meta); err != nil {
		return nil, fmt.Errorf("%s: %w", op, unknown(err))
	}
	if meta.HashType != "SHA1" {
		return nil, fmt.Errorf("%s: unsupported hash_type %q", op, meta.HashType)
	}
	// The download request carries our Authorization header: send it to
	// WeChat only.
	u, err := url.Parse(meta.DownloadURL)
	if err != nil || u.Scheme != "https" || !isWechatHost(u.Host) {
		return nil, fmt.Errorf("%s: download_url %q is not on WeChat Pay's host", op, meta.DownloadURL)
	}
	dl, err := c.download.Get(ctx, meta.DownloadURL)
	defer closeResult(dl)
	if err != nil {
		return nil, fail(op+": download", dl, err)
	}
	data, err := io.ReadAll(io.LimitReader(dl.Response.Body, MaxBillBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: download: %w", op, unknown(err))
	}
	if len(data) > MaxBillBytes {
		return nil, fmt.Errorf("%s: bill larger than %d bytes", op, MaxBillBytes)
	}
	sum := sha1.Sum(data)
	if !strings.EqualFold(hex.EncodeToString(sum[:]), meta.HashValue) {
		return nil, fmt.Errorf("%s: %w", op, ErrBillCorrupt)
	}
	return data, nil
}

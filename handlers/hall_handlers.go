package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"gaspay/recharge"
	"gaspay/web"
)

// hallPage serves the service hall's pages under /h5/. They load nothing
// from elsewhere, so the content security policy allows this origin only,
// and no other site may frame them.
func (h *handler) hallPage(c *gin.Context) {
	c.Header("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "same-origin")
	h.pages.ServeHTTP(c.Writer, c.Request)
}

// hallNotFound answers a path under /h5/ that is no page: a Chinese page for
// a browser, the API's error for anything else.
func (h *handler) hallNotFound(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotFound)
		if r.Method != http.MethodHead {
			w.Write(web.NotFoundPage())
		}
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(errNoRoute.Status)
	if r.Method != http.MethodHead {
		json.NewEncoder(w).Encode(errNoRoute)
	}
}

// HallInfo is what the service hall's pages are told about the server.
type HallInfo struct {
	// UtilityName is shown on the pages and receipts.
	UtilityName string
	// SandboxLogin: the official-account login comes straight back
	// (/oa/login?as=name), so a page outside WeChat may offer it.
	SandboxLogin bool
}

type hallConfigResponse struct {
	UtilityName string `json:"utility_name"`
	// Sandbox says which customer steps the sandbox plays: its login, its
	// WeChat Pay sheet, its Alipay cashier. All false in production.
	Sandbox struct {
		Login     bool `json:"login"`
		WeChatPay bool `json:"wechat_pay"`
		Alipay    bool `json:"alipay"`
	} `json:"sandbox"`
}

// hallConfig tells the pages what this server offers; it needs no session.
func (h *handler) hallConfig(c *gin.Context) {
	var out hallConfigResponse
	out.UtilityName = h.Hall.UtilityName
	out.Sandbox.Login = h.Hall.SandboxLogin
	out.Sandbox.WeChatPay = h.SandboxPay != nil
	out.Sandbox.Alipay = h.SandboxAlipay != nil
	c.Header("Cache-Control", "no-cache")
	c.JSON(http.StatusOK, out)
}

// receiptResponse is a payment's receipt (缴费凭证): what the customer keeps
// as proof, and what the receipt page prints.
type receiptResponse struct {
	UtilityName   string          `json:"utility_name"`
	UserNumber    string          `json:"user_number"`
	Holder        string          `json:"holder"`
	AccountKind   string          `json:"account_kind"`
	OrderNo       string          `json:"order_no"`
	Channel       string          `json:"channel"`
	Purpose       string          `json:"purpose"`
	Status        string          `json:"status"`
	CreatedAt     time.Time       `json:"created_at"`
	PaidAt        time.Time       `json:"paid_at"`
	VolumeCentiM3 int64           `json:"volume_centi_m3"`
	Lines         []recharge.Line `json:"lines"`
	GrossFen      int64           `json:"gross_fen"`
	DeductionFen  int64           `json:"deduction_fen"`
	LeftoverFen   int64           `json:"leftover_fen"`
	PaidFen       int64           `json:"paid_fen"`
	// PurchaseSeq is the meter's purchase sequence (购气次数) of a
	// prepaid credit; null for bill payments.
	PurchaseSeq *int            `json:"purchase_seq"`
	Delivery    *creditResponse `json:"delivery"`
	Refund      *refundResponse `json:"refund,omitempty"`
}

var errNotPaid = &apiError{Status: http.StatusConflict, Code: "not_paid", Message: "该订单尚未支付，没有缴费凭证。"}

// orderReceipt is the receipt of a paid order of the caller's accounts.
func (h *handler) orderReceipt(c *gin.Context) {
	no := c.Param("no")
	if !validOrderNo(no) {
		writeError(c, errInvalidOrderNo)
		return
	}
	s := session(c)
	v, err := h.Recharge.Order(c.Request.Context(), s.UserID, no)
	if err != nil {
		writeError(c, err)
		return
	}
	if v.Order.PaidAt == nil {
		writeError(c, errNotPaid)
		return
	}
	a, err := h.Customers.Account(c.Request.Context(), s.UserID, v.Order.AccountID)
	if err != nil {
		writeError(c, err)
		return
	}
	o := toOrderResponse(v)
	out := receiptResponse{UtilityName: h.Hall.UtilityName, UserNumber: a.UserNumber, Holder: a.HolderMasked,
		AccountKind: string(a.Kind), OrderNo: o.OrderNo, Channel: o.Channel, Purpose: o.Purpose, Status: o.Status,
		CreatedAt: o.CreatedAt, PaidAt: *o.PaidAt, VolumeCentiM3: int64(o.VolumeCentiM3), Lines: o.Lines, GrossFen: o.GrossFen,
		DeductionFen: o.DeductionFen, LeftoverFen: o.LeftoverFen, PaidFen: o.PayableFen, Delivery: o.Credit, Refund: o.Refund}
	if o.Credit != nil {
		out.PurchaseSeq = o.Credit.Seq
	}
	c.JSON(http.StatusOK, out)
}

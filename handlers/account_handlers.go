package handlers

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"gaspay/customer"
)

type accountResponse struct {
	ID               int64          `json:"id"`
	BindingID        int64          `json:"binding_id"`
	IsDefault        bool           `json:"is_default"`
	UserNumber       string         `json:"user_number"`
	Kind             string         `json:"kind"`
	Status           string         `json:"status"`
	Holder           string         `json:"holder"`
	Address          string         `json:"address"`
	BalanceFen       int64          `json:"balance_fen"`
	ArrearsFen       *int64         `json:"arrears_fen,omitempty"`
	Meter            *meterResponse `json:"meter,omitempty"`
	Card             *cardResponse  `json:"card,omitempty"`
	PurchaseLimitFen int64          `json:"purchase_limit_fen"`
	// IoT is an IoT account's meter as of its last report and its newest
	// credit on the way.
	IoT *iotResponse `json:"iot,omitempty"`
	// Access is "full", or "meter_only" for an account bound by meter
	// number alone: no user number, holder or address, and only the
	// caller's own payments.
	Access        string `json:"access"`
	CreditPending bool   `json:"credit_pending"`
	// Bills are an ordinary account's open bills, oldest first.
	Bills []billResponse `json:"bills,omitempty"`
	// PendingCredit is a paid credit on its way to the meter.
	PendingCredit *pendingCreditResponse `json:"pending_credit,omitempty"`
}

type billResponse struct {
	Period        string `json:"period"`
	AmountDueFen  int64  `json:"amount_due_fen"`
	AmountPaidFen int64  `json:"amount_paid_fen"`
	OwingFen      int64  `json:"owing_fen"`
}

type pendingCreditResponse struct {
	OrderNo string     `json:"order_no"`
	Kind    string     `json:"kind"`
	Unit    string     `json:"unit"`
	Amount  int64      `json:"amount"`
	PaidAt  *time.Time `json:"paid_at,omitempty"`
}

type meterResponse struct {
	Number         string     `json:"number"`
	LastBalanceFen *int64     `json:"last_balance_fen,omitempty"`
	LastReportedAt *time.Time `json:"last_reported_at,omitempty"`
}

type cardResponse struct {
	Serial         string `json:"serial"`
	Type           string `json:"type"`
	Status         string `json:"status"`
	LastWrittenSeq *int   `json:"last_written_seq"`
}

func toAccountResponse(v customer.AccountView) accountResponse {
	out := accountResponse{
		ID: v.ID, BindingID: v.BindingID, IsDefault: v.IsDefault, UserNumber: v.UserNumber, Kind: string(v.Kind),
		Status: string(v.Status), Holder: v.HolderMasked, Address: v.AddressMasked, BalanceFen: v.BalanceFen,
		ArrearsFen: v.ArrearsFen, PurchaseLimitFen: v.PurchaseLimitFen, Access: access(v.MeterOnly), CreditPending: v.CreditPending,
	}
	if m := v.Meter; m != nil {
		out.Meter = &meterResponse{Number: m.Number, LastBalanceFen: m.LastBalanceFen, LastReportedAt: m.LastReportedAt}
	}
	if cd := v.Card; cd != nil {
		out.Card = &cardResponse{Serial: cd.Serial, Type: string(cd.Type), Status: string(cd.Status), LastWrittenSeq: cd.LastWrittenSeq}
	}
	if v.Bills != nil {
		out.Bills = make([]billResponse, len(v.Bills))
		for i, b := range v.Bills {
			out.Bills[i] = billResponse{Period: b.Period, AmountDueFen: b.AmountDueFen, AmountPaidFen: b.AmountPaidFen,
				OwingFen: b.AmountDueFen - b.AmountPaidFen}
		}
	}
	if p := v.PendingCredit; p != nil {
		out.PendingCredit = &pendingCreditResponse{OrderNo: p.OrderNo, Kind: string(p.Kind), Unit: p.Credit.Unit(),
			Amount: p.Credit.Count(), PaidAt: p.PaidAt}
	}
	return out
}

// getAccount shows one of the caller's bound accounts; any other account,
// existing or not, is 404.
func (h *handler) getAccount(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		writeError(c, err)
		return
	}
	v, err := h.Customers.Account(c.Request.Context(), session(c).UserID, id)
	if err != nil {
		writeError(c, err)
		return
	}
	out := toAccountResponse(v)
	if v.Kind == customer.KindIoT && v.Meter != nil && h.IoT != nil {
		if out.IoT, err = h.iotView(c, v.ID, v.Meter.Number); err != nil {
			writeError(c, err)
			return
		}
		if d := out.IoT.Delivery; v.MeterOnly && d != nil {
			// A meter-only binding learns whether gas is on its way and
			// what to do, not whose order nor how much.
			d.OrderNo, d.Seq, d.Amount = "", 0, 0
		}
	}
	c.JSON(http.StatusOK, out)
}

func access(meterOnly bool) string {
	if meterOnly {
		return "meter_only"
	}
	return "full"
}

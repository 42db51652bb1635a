package handlers

import (
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"gaspay/reconcile"
)

type reconcileRequest struct {
	Provider string `json:"provider"`
	Date     string `json:"date"`
}

type billTotals struct {
	Payments    int    `json:"payments"`
	PaymentFen  int64  `json:"payment_fen"`
	Refunds     int    `json:"refunds"`
	RefundFen   int64  `json:"refund_fen"`
	FeeMilliFen *int64 `json:"fee_milli_fen,omitempty"`
	// FeeYuan is the fee column summed, exact, in yuan with five decimals.
	FeeYuan string `json:"fee_yuan,omitempty"`
}

type runResponse struct {
	Provider        string     `json:"provider"`
	Date            string     `json:"date"`
	Status          string     `json:"status"`
	Attempts        int        `json:"attempts"`
	Matched         int        `json:"matched"`
	DifferenceCount int        `json:"difference_count"`
	Open            int        `json:"open"`
	Bill            billTotals `json:"bill"`
	Ours            billTotals `json:"ours"`
	LastError       *string    `json:"last_error,omitempty"`
	StartedAt       time.Time  `json:"started_at"`
	FinishedAt      *time.Time `json:"finished_at,omitempty"`
	NextAttemptAt   *time.Time `json:"next_attempt_at,omitempty"`
}

// resultResponse is a run with its day's differences, an empty list when
// there are none.
type resultResponse struct {
	runResponse
	Differences []differenceResponse `json:"differences"`
}

type differenceResponse struct {
	ID         int64      `json:"id"`
	Provider   string     `json:"provider"`
	Date       string     `json:"date"`
	Kind       string     `json:"kind"`
	Ref        string     `json:"ref"`
	OrderNo    string     `json:"order_no"`
	Bill       string     `json:"bill"`
	Ours       string     `json:"ours"`
	State      string     `json:"state"`
	Note       *string    `json:"note,omitempty"`
	ResolvedBy *string    `json:"resolved_by,omitempty"`
	FoundAt    time.Time  `json:"found_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
}

func toRunResponse(r reconcile.Run) runResponse {
	fee := r.BillFeeMilliFen
	return runResponse{Provider: r.Provider, Date: r.BillDate, Status: string(r.Status), Attempts: r.Attempts,
		Matched: r.Matched, DifferenceCount: r.Differences, Open: r.OpenDifferences,
		Bill: billTotals{Payments: r.BillPayments, PaymentFen: r.BillPaymentFen, Refunds: r.BillRefunds, RefundFen: r.BillRefundFen,
			FeeMilliFen: &fee, FeeYuan: milliFenYuan(fee)},
		Ours:      billTotals{Payments: r.OurPayments, PaymentFen: r.OurPaymentFen, Refunds: r.OurRefunds, RefundFen: r.OurRefundFen},
		LastError: r.LastError, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, NextAttemptAt: r.NextAttemptAt}
}

// milliFenYuan prints thousandths of a fen as yuan with five decimals,
// as WeChat prints fees.
func milliFenYuan(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return sign + strconv.FormatInt(v/100000, 10) + "." + leftPad(strconv.FormatInt(v%100000, 10), 5)
}

func leftPad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}

func toDifferenceResponses(list []reconcile.Difference) []differenceResponse {
	out := make([]differenceResponse, len(list))
	for i, d := range list {
		out[i] = differenceResponse{ID: d.ID, Provider: d.Provider, Date: d.BillDate, Kind: string(d.Kind), Ref: d.Ref,
			OrderNo: d.OrderNo, Bill: d.BillValue, Ours: d.OurValue, State: string(d.State), Note: d.Note,
			ResolvedBy: d.ResolvedBy, FoundAt: d.FoundAt, ResolvedAt: d.ResolvedAt}
	}
	return out
}

func toResultResponse(res reconcile.Result) resultResponse {
	return resultResponse{runResponse: toRunResponse(res.Run), Differences: toDifferenceResponses(res.Differences)}
}

// adminRunReconciliation reconciles one provider's bill of one day now
// and answers the run with its matched count and differences.
func (h *handler) adminRunReconciliation(c *gin.Context) {
	var req reconcileRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	res, err := h.Reconcile.Run(c.Request.Context(), req.Provider, req.Date)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toResultResponse(res))
}

// adminReconciliationRuns lists runs, newest day first.
func (h *handler) adminReconciliationRuns(c *gin.Context) {
	runs, err := h.Reconcile.Runs(c.Request.Context(), c.Query("provider"), 100)
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]runResponse, len(runs))
	for i, r := range runs {
		out[i] = toRunResponse(r)
	}
	c.JSON(http.StatusOK, gin.H{"runs": out})
}

// adminReconciliationDay shows one run with its differences.
func (h *handler) adminReconciliationDay(c *gin.Context) {
	res, err := h.Reconcile.Day(c.Request.Context(), c.Param("provider"), c.Param("date"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toResultResponse(res))
}

// adminDifferences lists differences, open ones unless state says
// otherwise (open, repaired, resolved, all).
func (h *handler) adminDifferences(c *gin.Context) {
	state := reconcile.DiffOpen
	if q := c.Query("state"); q == "all" {
		state = ""
	} else if q != "" {
		var ok bool
		if state, ok = reconcile.ParseDiffState(q); !ok {
			writeError(c, badRequest("invalid_state", "state 须为 open、repaired、resolved 或 all。"))
			return
		}
	}
	list, err := h.Reconcile.Differences(c.Request.Context(), state, 200)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"differences": toDifferenceResponses(list)})
}

type resolveRequest struct {
	Note string `json:"note"`
}

// adminResolveDifference closes an open difference with staff's note.
func (h *handler) adminResolveDifference(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(c, badRequest("invalid_id", "id 须为差异编号。"))
		return
	}
	var req resolveRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	if n := utf8.RuneCountInString(req.Note); n == 0 || n > 200 {
		writeError(c, badRequest("invalid_note", "note 须写明处理情况，最多200字。"))
		return
	}
	d, err := h.Reconcile.Resolve(c.Request.Context(), actor(c), id, req.Note)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toDifferenceResponses([]reconcile.Difference{d})[0])
}

type undeliveredResponse struct {
	OrderNo       string     `json:"order_no"`
	UserNumber    string     `json:"user_number"`
	Kind          string     `json:"kind"`
	Unit          string     `json:"unit"`
	Amount        int64      `json:"amount"`
	PaidAt        *time.Time `json:"paid_at,omitempty"`
	AgeSeconds    int64      `json:"age_seconds"`
	Attempts      int        `json:"attempts"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
}

// adminDeliveryAging reports paid credits not yet delivered, by kind and
// age, and those past the alert age with their last attempt.
func (h *handler) adminDeliveryAging(c *gin.Context) {
	rep, err := h.Reconcile.Aging(c.Request.Context())
	if err != nil {
		writeError(c, err)
		return
	}
	overdue := make([]undeliveredResponse, len(rep.Overdue))
	for i, u := range rep.Overdue {
		overdue[i] = undeliveredResponse{OrderNo: u.OrderNo, UserNumber: u.UserNumber, Kind: string(u.Kind), Unit: u.Quantity().Unit(),
			Amount: u.Quantity().Count(), PaidAt: u.PaidAt, AgeSeconds: int64(rep.At.Sub(u.CreatedAt) / time.Second), Attempts: u.Attempts,
			LastAttemptAt: u.LastAttemptAt}
	}
	c.JSON(http.StatusOK, gin.H{"at": rep.At, "total": rep.Total, "by_kind": rep.Counts,
		"alert_age_seconds": int64(rep.AlertAge / time.Second), "overdue": overdue})
}

package handlers

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"gaspay/customer"
)

type bindingRequest struct {
	By         string `json:"by"`
	Number     string `json:"number"`
	HolderName string `json:"holder_name"`
}

// toBindRequest validates a binding request at the boundary, with an
// answer that says which field is wrong.
func toBindRequest(req bindingRequest, userID int64, ip string) (customer.BindRequest, error) {
	out := customer.BindRequest{UserID: userID, IP: ip, By: req.By, Number: req.Number, HolderName: req.HolderName}
	switch req.By {
	case customer.ByUserNumber:
		if !customer.ValidDigits(req.Number, customer.MaxUserNumber) {
			return out, badRequest("invalid_number", "用户号应为 1 到 12 位数字。")
		}
		if req.HolderName == "" {
			return out, badRequest("holder_name_required", "按用户号绑定时请填写户主姓名。")
		}
	case customer.ByMeterNumber:
		if !customer.ValidDigits(req.Number, customer.MaxMeterNumber) {
			return out, badRequest("invalid_number", "表号应为表盘条形码下的 1 到 20 位数字。")
		}
	default:
		return out, badRequest("invalid_by", "请选择按用户号或按表号绑定。")
	}
	if req.HolderName != "" && !customer.ValidHolderName(req.HolderName) {
		return out, badRequest("invalid_holder_name", "户主姓名应与缴费票据上一致（仅限文字，最多 32 个字）。")
	}
	return out, nil
}

type bindingResponse struct {
	ID         int64  `json:"id"`
	AccountID  int64  `json:"account_id"`
	IsDefault  bool   `json:"is_default"`
	UserNumber string `json:"user_number"`
	Kind       string `json:"kind"`
	Holder     string `json:"holder"`
	Address    string `json:"address"`
	Access     string `json:"access"`
	// MeterNumber is the account's meter, if it has one: what a
	// meter-only binding is shown by.
	MeterNumber string    `json:"meter_number,omitempty"`
	BoundAt     time.Time `json:"bound_at"`
}

func toBindingResponse(b customer.BindingView) bindingResponse {
	return bindingResponse{ID: b.ID, AccountID: b.AccountID, IsDefault: b.IsDefault, UserNumber: b.UserNumber,
		Kind: string(b.Kind), Holder: b.HolderMasked, Address: b.AddressMasked, Access: access(b.MeterOnly), MeterNumber: b.MeterNumber, BoundAt: b.BoundAt}
}

// listBindings lists the caller's bound accounts, the default first.
func (h *handler) listBindings(c *gin.Context) {
	list, err := h.Customers.Bindings(c.Request.Context(), session(c).UserID)
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]bindingResponse, len(list))
	for i, b := range list {
		out[i] = toBindingResponse(b)
	}
	c.JSON(http.StatusOK, gin.H{"bindings": out})
}

// createBinding binds an account to the caller: 201 when new, 200 when the
// caller had already bound it.
func (h *handler) createBinding(c *gin.Context) {
	var req bindingRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	s := session(c)
	br, err := toBindRequest(req, s.UserID, c.ClientIP())
	if err != nil {
		writeError(c, err)
		return
	}
	b, created, err := h.Customers.Bind(c.Request.Context(), br)
	if err != nil {
		writeError(c, err)
		return
	}
	list, err := h.Customers.Bindings(c.Request.Context(), s.UserID)
	if err != nil {
		writeError(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	for _, v := range list {
		if v.ID == b.ID {
			c.JSON(status, toBindingResponse(v))
			return
		}
	}
	// Unbound by a concurrent request between the two calls.
	writeError(c, customer.ErrNotFound)
}

// deleteBinding unbinds one of the caller's accounts.
func (h *handler) deleteBinding(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		writeError(c, err)
		return
	}
	if err := h.Customers.Unbind(c.Request.Context(), session(c).UserID, id); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// setDefaultBinding makes one of the caller's bindings the default, the
// account their pages open on.
func (h *handler) setDefaultBinding(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		writeError(c, err)
		return
	}
	if err := h.Customers.SetDefault(c.Request.Context(), session(c).UserID, id); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

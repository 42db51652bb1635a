package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// demo accounts every simulated customer binds (see customer/demo_accounts.csv).
var demoAccounts = []struct{ by, number, name string }{
	{"user_number", "031140086", "秦淮"},
	{"user_number", "031120001", "王洪"},
	{"meter_number", "20231100001", ""},
}

func login(ctx context.Context, c *client, name string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	err := c.call(ctx, "POST", "/api/mp/login", "", map[string]string{"code": "test:" + name}, &out, http.StatusOK)
	return out.Token, err
}

// accountsScenario logs in conc customers, each binding the demo accounts,
// and then reads one of their accounts per call.
func accountsScenario(ctx context.Context, c *client, conc int) (func(context.Context, int) error, error) {
	type customer struct {
		token    string
		accounts []int64
	}
	run := time.Now().UnixNano()
	customers := make([]customer, conc)
	for i := range customers {
		token, err := login(ctx, c, fmt.Sprintf("load-%d-%d", run, i))
		if err != nil {
			return nil, err
		}
		customers[i].token = token
		for _, a := range demoAccounts {
			body := map[string]string{"by": a.by, "number": a.number}
			if a.name != "" {
				body["holder_name"] = a.name
			}
			var b struct {
				AccountID int64 `json:"account_id"`
			}
			if err := c.call(ctx, "POST", "/api/bindings", token, body, &b, http.StatusCreated); err != nil {
				return nil, err
			}
			customers[i].accounts = append(customers[i].accounts, b.AccountID)
		}
	}
	var n atomic.Uint64
	return func(ctx context.Context, w int) error {
		cu := customers[w]
		id := cu.accounts[n.Add(1)%uint64(len(cu.accounts))]
		return c.call(ctx, "GET", fmt.Sprintf("/api/accounts/%d", id), cu.token, nil, nil, http.StatusOK)
	}, nil
}

// loginScenario logs a new sandbox customer in per call: the code exchange
// with the (sandbox) WeChat, the user upsert and the session write.
func loginScenario(c *client) func(context.Context, int) error {
	var n atomic.Uint64
	run := time.Now().UnixNano()
	return func(ctx context.Context, w int) error {
		_, err := login(ctx, c, fmt.Sprintf("login-%d-%d", run, n.Add(1)%5000))
		return err
	}
}

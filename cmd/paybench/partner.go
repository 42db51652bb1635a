package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"gaspay/app"
	"gaspay/internal/loadtest"
	"gaspay/internal/randhex"
	"gaspay/models"
	"gaspay/partner"
)

// partnerPhase measures partner payments: signed requests from a POS
// agent's system paying ordinary accounts' bills, each written once.
func partnerPhase(ctx context.Context, a *app.App, base string, client *http.Client, n, conc int, stdout io.Writer) error {
	now := time.Now().UTC()
	key := "paybench-partner-secret-0123456789"
	id := fmt.Sprintf("bench-%d", now.UnixNano()%1_000_000)
	if err := a.Store.SavePartner(ctx, &models.Partner{PartnerID: id, Name: id, Secret: key, Active: true, CreatedAt: now, UpdatedAt: now}); err != nil {
		return err
	}
	// Every client pays its own accounts, as counters of different agents.
	accounts := conc * 4
	var rows []models.ImportRow
	prefix := fmt.Sprintf("5%05d", now.UnixNano()%100000)
	for i := range accounts {
		rows = append(rows, models.ImportRow{Line: i + 2, UserNumber: fmt.Sprintf("%s%05d", prefix, i), HolderName: "压测",
			Address: "benchmark", Kind: models.KindOrdinary})
	}
	if _, err := a.Store.ImportAccounts(ctx, rows, "residential", now); err != nil {
		return err
	}
	var seq atomic.Int64
	st := loadtest.Drain(conc, func(w int) (bool, error) {
		i := seq.Add(1)
		if i > int64(n) {
			return false, nil
		}
		account := rows[(w*4)+int(i%4)].UserNumber
		body := fmt.Sprintf(`{"serial":"P%d","user_number":"%s","amount_fen":%d}`, i, account, 1000+i%500)
		return true, signedPost(client, base, "/partner/v1/pay", id, key, body)
	})
	fmt.Fprintf(stdout, "partner payments: %s\n", st)
	if st.Errors > 0 {
		return fmt.Errorf("partner payments failed: %v", st.FirstErr)
	}
	var payments, credits int64
	db := a.Store.DB().WithContext(ctx)
	db.Model(&models.Payment{}).Where("provider = ? AND provider_txn_id LIKE ?", "partner", id+":%").Count(&payments)
	db.Raw("SELECT COUNT(*) FROM credits c JOIN payments p ON p.order_id = c.order_id WHERE p.provider = ? AND p.provider_txn_id LIKE ?",
		"partner", id+":%").Scan(&credits)
	fmt.Fprintf(stdout, "partner ledgers: %d payments, %d credits\n", payments, credits)
	if payments != int64(n) || credits != int64(n) {
		return fmt.Errorf("partner ledgers do not balance")
	}
	return nil
}

func signedPost(c *http.Client, base, path, id, key, body string) error {
	nonce := randhex.New(12)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequest("POST", base+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Partner-Id", id)
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Nonce", nonce)
	req.Header.Set("X-Signature", partner.Sign([]byte(key), "POST", path, ts, nonce, body))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, raw)
	}
	return nil
}

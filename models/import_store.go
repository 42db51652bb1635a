package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"gaspay/units"
)

// ImportRow is one validated account from the billing system.
type ImportRow struct {
	Line        int // in the source file, for error messages
	UserNumber  string
	HolderName  string
	Address     string
	Phone       string
	Kind        AccountKind
	MeterNumber string   // "" when the row has none
	CardSerial  string   // 16 upper-case hex digits, "" when none
	CardType    CardType // set with CardSerial
	BalanceFen  int64
}

// ImportResult counts what an import did.
type ImportResult struct {
	Created int
	Updated int
}

// RowError is a problem with one line of an import.
type RowError struct {
	Line int
	Msg  string
}

// ImportError lists every bad line of an import that changed nothing.
type ImportError []RowError

func (e ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d bad rows, nothing imported", len(e))
	for _, r := range e {
		fmt.Fprintf(&b, "\n  line %d: %s", r.Line, r.Msg)
	}
	return b.String()
}

// ImportAccounts creates or updates accounts by user number, with their
// meters and cards, in one transaction, for seeds, demos and benchmarks:
// it locks every account of rows until it commits, so the billing system's
// files go through console.ImportAccounts (staged, then applied in short
// batches by ApplyAccountBatch, with the same importRow).
// if any row conflicts with the
// database (a meter or card that belongs to another account, a card reported
// lost) nothing is imported and every conflicting line is reported in an
// ImportError.
//
// An existing account's balance is not overwritten: after gaspay has taken
// payments, the billing system's export is older than our ledger, and
// replacing the balance would lose or double credits. A new card replaces
// the account's current card, which becomes lost.
func (s *Store) ImportAccounts(ctx context.Context, rows []ImportRow, tariffCode string, at time.Time) (ImportResult, error) {
	var res ImportResult
	err := s.Tx(ctx, func(tx *Store) error {
		res = ImportResult{}
		var tariff Tariff
		if err := tx.db.Where("code = ?", tariffCode).Take(&tariff).Error; err != nil {
			return fmt.Errorf("models: import: tariff %q: %w", tariffCode, one(err))
		}
		var bad ImportError
		for _, r := range rows {
			created, msg, err := tx.importRow(r, tariff.ID, at)
			if err != nil {
				return fmt.Errorf("models: import line %d: %w", r.Line, err)
			}
			if msg != "" {
				bad = append(bad, RowError{Line: r.Line, Msg: msg})
				continue
			}
			if created {
				res.Created++
			} else {
				res.Updated++
			}
		}
		if len(bad) > 0 {
			return bad
		}
		return nil
	})
	return res, err
}

// importRow applies one row. A conflict is reported in msg, an unexpected
// failure in err.
func (s *Store) importRow(r ImportRow, tariffID int64, at time.Time) (created bool, msg string, err error) {
	db := s.db
	var a Account
	err = db.Clauses(forUpdate()).Where("user_number = ?", r.UserNumber).Take(&a).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		created = true
		a = Account{UserNumber: r.UserNumber, HolderName: r.HolderName, Address: r.Address, Phone: r.Phone,
			Kind: r.Kind, TariffID: tariffID, BalanceFen: units.Fen(r.BalanceFen), Status: AccountActive, CreatedAt: at, UpdatedAt: at}
		if err := db.Create(&a).Error; err != nil {
			return false, "", err
		}
	case err != nil:
		return false, "", err
	default:
		if err := db.Model(&a).Updates(map[string]any{"holder_name": r.HolderName, "address": r.Address,
			"phone": r.Phone, "kind": r.Kind, "updated_at": at}).Error; err != nil {
			return false, "", err
		}
	}
	if r.MeterNumber != "" {
		if msg, err := s.importMeter(a, r.MeterNumber, at); msg != "" || err != nil {
			return false, msg, err
		}
	}
	if r.CardSerial != "" {
		if msg, err := s.importCard(a, r.CardSerial, r.CardType, at); msg != "" || err != nil {
			return false, msg, err
		}
	}
	return created, "", nil
}

func (s *Store) importMeter(a Account, number string, at time.Time) (string, error) {
	var m Meter
	err := s.db.Where("meter_number = ?", number).Take(&m).Error
	switch {
	case err == nil && m.AccountID != a.ID:
		return fmt.Sprintf("meter number %s belongs to another account", number), nil
	case err == nil:
		return "", nil
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return "", err
	}
	// A different meter number for this account replaces the old meter.
	res := s.db.Model(&Meter{}).Where("account_id = ?", a.ID).
		Updates(map[string]any{"meter_number": number, "last_balance_fen": nil, "last_reported_at": nil, "updated_at": at})
	if res.Error != nil || res.RowsAffected > 0 {
		return "", res.Error
	}
	return "", s.db.Create(&Meter{AccountID: a.ID, MeterNumber: number, CreatedAt: at, UpdatedAt: at}).Error
}

func (s *Store) importCard(a Account, serial string, typ CardType, at time.Time) (string, error) {
	var c Card
	err := s.db.Where("card_serial = ?", serial).Take(&c).Error
	switch {
	case err == nil && c.AccountID != a.ID:
		return fmt.Sprintf("card %s belongs to another account", serial), nil
	case err == nil && c.Status == CardLost:
		return fmt.Sprintf("card %s was reported lost and cannot be reissued", serial), nil
	case err == nil:
		return "", s.db.Model(&c).Updates(map[string]any{"card_type": typ, "updated_at": at}).Error
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return "", err
	}
	// A new card replaces the account's current one, which is then refused
	// wherever it turns up.
	if err := s.db.Model(&Card{}).Where("current_account_id = ?", a.ID).
		Updates(map[string]any{"status": CardLost, "current_account_id": nil, "updated_at": at}).Error; err != nil {
		return "", err
	}
	id := a.ID
	return "", s.db.Create(&Card{AccountID: a.ID, Serial: serial, Type: typ, Status: CardCurrent,
		CurrentAccountID: &id, CreatedAt: at, UpdatedAt: at}).Error
}

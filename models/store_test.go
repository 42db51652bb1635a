package models_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gaspay/internal/testenv"
	"gaspay/models"
)

type gormDB struct{ DB *gorm.DB }

var now = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

func seed(t *testing.T, s *models.Store, rows ...models.ImportRow) {
	t.Helper()
	if _, err := s.ImportAccounts(context.Background(), rows, "residential", now); err != nil {
		t.Fatal(err)
	}
}

func accounts(n int) []models.ImportRow {
	rows := make([]models.ImportRow, n)
	for i := range rows {
		rows[i] = models.ImportRow{Line: i + 2, UserNumber: string(rune('1'+i/10)) + string(rune('0'+i%10)),
			HolderName: "王五", Address: "addr", Kind: models.KindOrdinary}
	}
	return rows
}

// Twenty binds at once by one user with a limit of five: exactly five win,
// on every database.
func TestBindLimitUnderConcurrency(t *testing.T) {
	s := models.NewStore(testenv.DB(t))
	ctx := context.Background()
	seed(t, s, accounts(20)...)
	u, err := s.UpsertUser(ctx, models.AppMiniProgram, "wxapp", "openid-1", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, limited := 0, 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := s.AccountByUserNumber(ctx, accounts(20)[i].UserNumber)
			if err != nil {
				t.Error(err)
				return
			}
			_, created, err := s.Bind(ctx, u.ID, a.ID, 5, now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, models.ErrLimit):
				limited++
			case err != nil:
				t.Error(err)
			case created:
				won++
			}
		}()
	}
	wg.Wait()
	if won != 5 || limited != 15 {
		t.Fatalf("won %d, limited %d; want 5 and 15", won, limited)
	}
	list, err := s.Bindings(ctx, u.ID)
	if err != nil || len(list) != 5 {
		t.Fatalf("bindings = %d, %v", len(list), err)
	}
	defaults := 0
	for _, b := range list {
		if b.IsDefault {
			defaults++
		}
	}
	if defaults != 1 {
		t.Fatalf("%d default bindings", defaults)
	}
}

func TestUpsertUserKeepsOneRow(t *testing.T) {
	s := models.NewStore(testenv.DB(t))
	ctx := context.Background()
	a, err := s.UpsertUser(ctx, models.AppMiniProgram, "wxapp", "openid-1", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.UpsertUser(ctx, models.AppMiniProgram, "wxapp", "openid-1", nil, now.Add(time.Hour))
	if err != nil || b.ID != a.ID || !b.LastLoginAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("second login = %+v, %v (first %d)", b, err, a.ID)
	}
	c, err := s.UpsertUser(ctx, models.AppOfficialAccount, "wxoa", "openid-1", nil, now)
	if err != nil || c.ID == a.ID {
		t.Fatalf("same openid under another app must be another user: %+v %v", c, err)
	}
}

func TestImportIsAtomicAndIdempotent(t *testing.T) {
	s := models.NewStore(testenv.DB(t))
	ctx := context.Background()
	rows := []models.ImportRow{
		{Line: 2, UserNumber: "031140086", HolderName: "秦淮", Address: "a", Kind: models.KindICCard, CardSerial: "0000000012345678", CardType: models.CardVolume, BalanceFen: 30},
		{Line: 3, UserNumber: "031130001", HolderName: "李娜", Address: "b", Kind: models.KindIoT, MeterNumber: "20231100001"},
	}
	res, err := s.ImportAccounts(ctx, rows, "residential", now)
	if err != nil || res.Created != 2 || res.Updated != 0 {
		t.Fatalf("first import: %+v %v", res, err)
	}
	// A second import updates, without touching the balance our ledger owns.
	rows[0].Address, rows[0].BalanceFen = "new address", 99999
	res, err = s.ImportAccounts(ctx, rows, "residential", now)
	if err != nil || res.Created != 0 || res.Updated != 2 {
		t.Fatalf("second import: %+v %v", res, err)
	}
	a, _ := s.AccountByUserNumber(ctx, "031140086")
	if a.Address != "new address" || a.BalanceFen != 30 {
		t.Fatalf("after re-import: %+v", a)
	}

	// One conflicting row: nothing of the file lands, every conflict is named.
	bad := []models.ImportRow{
		{Line: 2, UserNumber: "031150001", HolderName: "新户", Address: "c", Kind: models.KindOrdinary},
		{Line: 3, UserNumber: "031150002", HolderName: "新户", Address: "c", Kind: models.KindIoT, MeterNumber: "20231100001"},
		{Line: 4, UserNumber: "031150003", HolderName: "新户", Address: "c", Kind: models.KindICCard, CardSerial: "0000000012345678", CardType: models.CardAmount},
	}
	_, err = s.ImportAccounts(ctx, bad, "residential", now)
	var ie models.ImportError
	if !errors.As(err, &ie) || len(ie) != 2 || ie[0].Line != 3 || ie[1].Line != 4 {
		t.Fatalf("conflicts: %v", err)
	}
	if _, err := s.AccountByUserNumber(ctx, "031150001"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a row of a refused file landed: %v", err)
	}

	// A new card replaces the current one, which is then lost for good.
	rows[0].CardSerial = "00000000AAAA0001"
	if _, err := s.ImportAccounts(ctx, rows[:1], "residential", now); err != nil {
		t.Fatal(err)
	}
	var cards []models.Card
	s.DB().Order("id").Find(&cards)
	if len(cards) != 2 || cards[0].Status != models.CardLost || cards[0].CurrentAccountID != nil ||
		cards[1].Status != models.CardCurrent || cards[1].CurrentAccountID == nil {
		t.Fatalf("cards = %+v", cards)
	}
	rows[0].CardSerial = "0000000012345678"
	if _, err := s.ImportAccounts(ctx, rows[:1], "residential", now); !errors.As(err, &ie) {
		t.Fatalf("reissuing a lost card: %v", err)
	}
}

// A value outside an enum never enters or leaves the database.
func TestEnumsRefuseGarbage(t *testing.T) {
	db := testenv.DB(t)
	s := models.NewStore(db)
	err := db.Create(&models.Account{UserNumber: "1", HolderName: "x", Kind: "gas", TariffID: 1, Status: models.AccountActive, CreatedAt: now, UpdatedAt: now}).Error
	if err == nil {
		t.Fatal("stored kind gas")
	}
	seed(t, s, accounts(1)...)
	if err := db.Exec("UPDATE accounts SET kind = 'gas'").Error; err != nil {
		t.Fatal(err)
	}
	if _, err := s.AccountByUserNumber(context.Background(), accounts(1)[0].UserNumber); err == nil {
		t.Fatal("read kind gas")
	}
}

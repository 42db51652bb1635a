package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm/clause"

	"gaspay/units"
)

// Import is one import of bills or readings.
type Import struct {
	ID          int64
	Kind        string // bills, readings
	FileName    string
	Actor       string
	Status      string // staging, committed, applied
	TotalRows   int
	AppliedRows int
	ErrorCount  int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Import statuses: staging (rows being written and checked, invisible),
// committed (checked; the switch is made and application will finish, even
// after a crash), applied.
const (
	ImportStaging   = "staging"
	ImportCommitted = "committed"
	ImportApplied   = "applied"
)

// BillStage is a staged bill.
type BillStage struct {
	ID         int64
	ImportID   int64
	Line       int
	UserNumber string
	AccountID  *int64
	Period     string
	AmountFen  int64
	DueDate    string
	Applied    bool
}

// TableName is the staging table.
func (BillStage) TableName() string { return "bill_staging" }

// ReadingStage is a staged meter reading.
type ReadingStage struct {
	ID             int64
	ImportID       int64
	Line           int
	MeterNumber    string
	MeterID        *int64
	ReadAt         time.Time
	ReadingCentiM3 int64 `gorm:"column:reading_centi_m3"`
	Applied        bool
}

// TableName is the staging table.
func (ReadingStage) TableName() string { return "reading_staging" }

// CreateImport records a new import in staging.
func (s *Store) CreateImport(ctx context.Context, im *Import) error {
	return s.db.WithContext(ctx).Create(im).Error
}

// ImportByID finds an import.
func (s *Store) ImportByID(ctx context.Context, id int64) (Import, error) {
	var im Import
	return im, one(s.db.WithContext(ctx).Take(&im, id).Error)
}

// Imports lists imports, newest first; status filters when set.
func (s *Store) Imports(ctx context.Context, status string, limit int) ([]Import, error) {
	q := s.db.WithContext(ctx).Order("id DESC").Limit(limit)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	var out []Import
	return out, q.Find(&out).Error
}

// StageBills writes a batch of staged bills, resolving their accounts by
// user number; it locks nothing but the new rows.
func (s *Store) StageBills(ctx context.Context, rows []BillStage) error {
	if len(rows) == 0 {
		return nil
	}
	nums := make([]string, len(rows))
	for i, r := range rows {
		nums[i] = r.UserNumber
	}
	ids, err := s.idsBy(ctx, "accounts", "user_number", nums)
	if err != nil {
		return err
	}
	for i := range rows {
		if id, ok := ids[rows[i].UserNumber]; ok {
			rows[i].AccountID = &id
		}
	}
	return s.db.WithContext(ctx).CreateInBatches(rows, 500).Error
}

// StageReadings writes a batch of staged readings, resolving their meters.
func (s *Store) StageReadings(ctx context.Context, rows []ReadingStage) error {
	if len(rows) == 0 {
		return nil
	}
	nums := make([]string, len(rows))
	for i, r := range rows {
		nums[i] = r.MeterNumber
	}
	ids, err := s.idsBy(ctx, "meters", "meter_number", nums)
	if err != nil {
		return err
	}
	for i := range rows {
		if id, ok := ids[rows[i].MeterNumber]; ok {
			rows[i].MeterID = &id
		}
	}
	return s.db.WithContext(ctx).CreateInBatches(rows, 500).Error
}

func (s *Store) idsBy(ctx context.Context, table, col string, keys []string) (map[string]int64, error) {
	var found []struct {
		ID  int64
		Key string
	}
	if err := s.db.WithContext(ctx).Raw("SELECT id, "+col+" AS `key` FROM "+table+" WHERE "+col+" IN ?", keys).
		Scan(&found).Error; err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(found))
	for _, f := range found {
		out[f.Key] = f.ID
	}
	return out, nil
}

// StageProblem is a staged line the database refuses.
type StageProblem struct {
	Line int
	Msg  string
}

// CheckStagedBills finds the staged bills of an import that cannot be
// applied: an unknown user number, an account that is not billed (prepaid
// meters have no bills), or a bill already paid beyond the new amount.
// It reads in id ranges, with no locks.
func (s *Store) CheckStagedBills(ctx context.Context, importID int64, max int) ([]StageProblem, error) {
	var rows []struct {
		Line       int
		UserNumber string
		AccountID  *int64
		Kind       *string
		AmountFen  int64
		PaidFen    *int64
	}
	err := s.db.WithContext(ctx).Raw(`SELECT st.line, st.user_number, st.account_id, a.kind, st.amount_fen, b.amount_paid_fen AS paid_fen
		FROM bill_staging st
		LEFT JOIN accounts a ON a.id = st.account_id
		LEFT JOIN bills b ON b.account_id = st.account_id AND b.period = st.period
		WHERE st.import_id = ? AND (st.account_id IS NULL OR a.kind <> ? OR b.amount_paid_fen > st.amount_fen)
		ORDER BY st.line LIMIT ?`, importID, KindOrdinary, max).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]StageProblem, len(rows))
	for i, r := range rows {
		msg := ""
		switch {
		case r.AccountID == nil:
			msg = fmt.Sprintf("没有用户号 %s 的账户", r.UserNumber)
		case r.Kind != nil && AccountKind(*r.Kind) != KindOrdinary:
			msg = fmt.Sprintf("用户号 %s 是预付费表，没有账单", r.UserNumber)
		default:
			msg = fmt.Sprintf("该账期已缴 %d 分，多于新金额 %d 分", *r.PaidFen, r.AmountFen)
		}
		out[i] = StageProblem{Line: r.Line, Msg: msg}
	}
	return out, nil
}

// CheckStagedReadings finds staged readings that cannot be applied: an
// unknown meter, or a different reading already recorded for that meter
// and time.
func (s *Store) CheckStagedReadings(ctx context.Context, importID int64, max int) ([]StageProblem, error) {
	var rows []struct {
		Line        int
		MeterNumber string
		MeterID     *int64
		Have        *int64
	}
	err := s.db.WithContext(ctx).Raw(`SELECT st.line, st.meter_number, st.meter_id, r.reading_centi_m3 AS have
		FROM reading_staging st
		LEFT JOIN meter_readings r ON r.meter_id = st.meter_id AND r.read_at = st.read_at
		WHERE st.import_id = ? AND (st.meter_id IS NULL OR r.reading_centi_m3 <> st.reading_centi_m3)
		ORDER BY st.line LIMIT ?`, importID, max).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]StageProblem, len(rows))
	for i, r := range rows {
		msg := fmt.Sprintf("没有表号 %s 的表", r.MeterNumber)
		if r.MeterID != nil {
			msg = fmt.Sprintf("表号 %s 在该时间已有读数 %d", r.MeterNumber, *r.Have)
		}
		out[i] = StageProblem{Line: r.Line, Msg: msg}
	}
	return out, nil
}

// DropStaging deletes up to batch staged rows of an import and reports how
// many it deleted; call until 0, then DeleteImport.
func (s *Store) DropStaging(ctx context.Context, kind string, importID int64, batch int) (int64, error) {
	table := stagingTable(kind)
	// MySQL deletes with a LIMIT; SQLite (without its optional LIMIT
	// support) deletes by a bounded id list.
	res := s.db.WithContext(ctx).Exec("DELETE FROM "+table+" WHERE id IN (SELECT id FROM (SELECT id FROM "+table+
		" WHERE import_id = ? ORDER BY id LIMIT ?) AS t)", importID, batch)
	return res.RowsAffected, res.Error
}

// DeleteImport removes an import that was never committed.
func (s *Store) DeleteImport(ctx context.Context, id int64) error {
	return s.db.WithContext(ctx).Where("id = ? AND status = ?", id, ImportStaging).Delete(&Import{}).Error
}

func stagingTable(kind string) string {
	switch kind {
	case "readings":
		return "reading_staging"
	case "accounts":
		return "account_staging"
	}
	return "bill_staging"
}

// CommitImport is the switch: a checked import becomes committed, in the
// caller's transaction (with its audit entry).
func (s *Store) CommitImport(ctx context.Context, id int64, rows int, at time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Import{}).Where("id = ? AND status = ?", id, ImportStaging).
		Updates(map[string]any{"status": ImportCommitted, "total_rows": rows, "updated_at": at})
	return res.RowsAffected == 1, res.Error
}

// BillApplied is what applying one staged bill did.
type BillApplied struct {
	AccountID    int64
	Period       string
	DeltaFen     int64 // change of the account's arrears
	PaidOverFen  int64 // a payment since the check exceeded the new amount
	AmountDueFen int64
}

// ApplyBillBatch applies up to batch unapplied staged bills of an import
// in one short transaction: their accounts are locked (in id order, as a
// payment locks its one account, so no deadlock), each bill is created or
// its amount and due date replaced, the arrears move by the difference,
// and the staged rows are marked applied. It returns what it applied;
// an empty result means the import is done.
func (s *Store) ApplyBillBatch(ctx context.Context, importID int64, batch int, at time.Time) ([]BillApplied, error) {
	var out []BillApplied
	err := s.Tx(ctx, func(tx *Store) error {
		out = out[:0]
		db := tx.db.WithContext(ctx)
		var rows []BillStage
		// The staged rows are locked: a second process finishing the same
		// import waits, then finds them applied.
		if err := db.Clauses(forUpdate()).Where("import_id = ? AND applied = ?", importID, false).Order("id").Limit(batch).
			Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		accIDs := make([]int64, 0, len(rows))
		stageIDs := make([]int64, len(rows))
		seenAcc := map[int64]bool{}
		for i, r := range rows {
			if !seenAcc[*r.AccountID] {
				seenAcc[*r.AccountID] = true
				accIDs = append(accIDs, *r.AccountID)
			}
			stageIDs[i] = r.ID
		}
		var locked []int64
		if err := db.Model(&Account{}).Clauses(forUpdate()).Where("id IN ?", accIDs).Order("id").Pluck("id", &locked).Error; err != nil {
			return err
		}
		var existing []Bill
		if err := db.Where("account_id IN ?", accIDs).Find(&existing).Error; err != nil {
			return err
		}
		have := make(map[string]Bill, len(existing))
		for _, b := range existing {
			have[fmt.Sprint(b.AccountID, "/", b.Period)] = b
		}
		var fresh []Bill
		delta := map[int64]int64{}
		for _, r := range rows {
			due := r.DueDate
			ap := BillApplied{AccountID: *r.AccountID, Period: r.Period, AmountDueFen: r.AmountFen}
			b, ok := have[fmt.Sprint(*r.AccountID, "/", r.Period)]
			if !ok {
				fresh = append(fresh, Bill{AccountID: *r.AccountID, Period: r.Period, AmountDueFen: units.Fen(r.AmountFen),
					DueDate: &due, CreatedAt: at, UpdatedAt: at})
				ap.DeltaFen = r.AmountFen
			} else {
				newDue := r.AmountFen
				if paid := int64(b.AmountPaidFen); paid > newDue {
					// Paid since the check: never owe less than paid.
					ap.PaidOverFen, newDue = paid-newDue, paid
				}
				ap.AmountDueFen, ap.DeltaFen = newDue, newDue-int64(b.AmountDueFen)
				if err := db.Model(&Bill{}).Where("id = ?", b.ID).
					Updates(map[string]any{"amount_due_fen": newDue, "due_date": due, "updated_at": at}).Error; err != nil {
					return err
				}
			}
			delta[ap.AccountID] += ap.DeltaFen
			out = append(out, ap)
		}
		if len(fresh) > 0 {
			if err := db.CreateInBatches(fresh, 500).Error; err != nil {
				return err
			}
		}
		if err := tx.addArrears(ctx, delta, at); err != nil {
			return err
		}
		if err := db.Model(&BillStage{}).Where("id IN ?", stageIDs).Update("applied", true).Error; err != nil {
			return err
		}
		return db.Exec("UPDATE imports SET applied_rows = applied_rows + ?, updated_at = ? WHERE id = ?", len(rows), at, importID).Error
	})
	return out, err
}

// addArrears moves several accounts' arrears in one statement.
func (s *Store) addArrears(ctx context.Context, delta map[int64]int64, at time.Time) error {
	var b strings.Builder
	var args []any
	ids := make([]int64, 0, len(delta))
	b.WriteString("UPDATE accounts SET arrears_fen = arrears_fen + CASE id")
	for id, d := range delta {
		if d == 0 {
			continue
		}
		b.WriteString(" WHEN ? THEN ?")
		args = append(args, id, d)
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil
	}
	b.WriteString(" ELSE 0 END, updated_at = ? WHERE id IN ?")
	args = append(args, at, ids)
	return s.db.WithContext(ctx).Exec(b.String(), args...).Error
}

// ApplyReadingBatch copies up to batch unapplied staged readings of an
// import into meter_readings in one short transaction. Readings lock no
// account. It reports how many it applied; 0 means done.
func (s *Store) ApplyReadingBatch(ctx context.Context, importID int64, batch int, at time.Time) (int, error) {
	var n int
	err := s.Tx(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		var rows []ReadingStage
		if err := db.Clauses(forUpdate()).Where("import_id = ? AND applied = ?", importID, false).Order("id").Limit(batch).Find(&rows).Error; err != nil {
			return err
		}
		n = len(rows)
		if n == 0 {
			return nil
		}
		ids := make([]int64, n)
		out := make([]MeterReading, n)
		for i, r := range rows {
			ids[i] = r.ID
			imp := importID
			out[i] = MeterReading{MeterID: *r.MeterID, ReadAt: r.ReadAt, ReadingCentiM3: r.ReadingCentiM3, ImportID: &imp, CreatedAt: at}
		}
		// The same reading already recorded (a file imported twice) stays.
		if err := db.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(out, 500).Error; err != nil {
			return err
		}
		if err := db.Model(&ReadingStage{}).Where("id IN ?", ids).Update("applied", true).Error; err != nil {
			return err
		}
		return db.Exec("UPDATE imports SET applied_rows = applied_rows + ?, updated_at = ? WHERE id = ?", n, at, importID).Error
	})
	return n, err
}

// FinishImport marks a committed import applied.
func (s *Store) FinishImport(ctx context.Context, id int64, at time.Time) error {
	return s.db.WithContext(ctx).Model(&Import{}).Where("id = ? AND status = ?", id, ImportCommitted).
		Updates(map[string]any{"status": ImportApplied, "updated_at": at}).Error
}

// AccountStage is a staged account of the billing system's export.
type AccountStage struct {
	ID          int64
	ImportID    int64
	Line        int
	UserNumber  string
	HolderName  string
	Address     string
	Phone       string
	Kind        AccountKind
	MeterNumber string
	CardSerial  string
	CardType    string // "" without a card (CardType refuses an empty value)
	BalanceFen  int64
	Applied     bool
}

// TableName is the staging table.
func (AccountStage) TableName() string { return "account_staging" }

func (a AccountStage) row() ImportRow {
	return ImportRow{Line: a.Line, UserNumber: a.UserNumber, HolderName: a.HolderName, Address: a.Address, Phone: a.Phone,
		Kind: a.Kind, MeterNumber: a.MeterNumber, CardSerial: a.CardSerial, CardType: CardType(a.CardType), BalanceFen: a.BalanceFen}
}

// StageAccounts writes a batch of staged accounts; it locks nothing but
// the new rows.
func (s *Store) StageAccounts(ctx context.Context, importID int64, rows []ImportRow) error {
	if len(rows) == 0 {
		return nil
	}
	out := make([]AccountStage, len(rows))
	for i, r := range rows {
		out[i] = AccountStage{ImportID: importID, Line: r.Line, UserNumber: r.UserNumber, HolderName: r.HolderName, Address: r.Address,
			Phone: r.Phone, Kind: r.Kind, MeterNumber: r.MeterNumber, CardSerial: r.CardSerial, CardType: string(r.CardType), BalanceFen: r.BalanceFen}
	}
	return s.db.WithContext(ctx).CreateInBatches(out, 500).Error
}

// CheckStagedAccounts finds the staged accounts that conflict with the
// database, by the rules of importRow: a meter or card that belongs to
// another account, a card reported lost. It reads, with no locks.
func (s *Store) CheckStagedAccounts(ctx context.Context, importID int64, max int) ([]StageProblem, error) {
	var rows []struct {
		Line        int
		MeterNumber string
		CardSerial  string
		MeterOwner  *string
		CardOwner   *string
		CardStatus  *string
	}
	err := s.db.WithContext(ctx).Raw(`SELECT st.line, st.meter_number, st.card_serial, ma.user_number AS meter_owner,
			ca.user_number AS card_owner, c.status AS card_status
		FROM account_staging st
		LEFT JOIN meters m ON st.meter_number <> '' AND m.meter_number = st.meter_number
		LEFT JOIN accounts ma ON ma.id = m.account_id
		LEFT JOIN cards c ON st.card_serial <> '' AND c.card_serial = st.card_serial
		LEFT JOIN accounts ca ON ca.id = c.account_id
		WHERE st.import_id = ? AND ((m.id IS NOT NULL AND ma.user_number <> st.user_number)
			OR (c.id IS NOT NULL AND (ca.user_number <> st.user_number OR c.status = ?)))
		ORDER BY st.line LIMIT ?`, importID, CardLost, max).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]StageProblem, len(rows))
	for i, r := range rows {
		var msgs []string
		if r.MeterOwner != nil {
			msgs = append(msgs, fmt.Sprintf("meter number %s belongs to another account", r.MeterNumber))
		}
		switch {
		case r.CardStatus != nil && CardStatus(*r.CardStatus) == CardLost:
			msgs = append(msgs, fmt.Sprintf("card %s was reported lost and cannot be reissued", r.CardSerial))
		case r.CardOwner != nil:
			msgs = append(msgs, fmt.Sprintf("card %s belongs to another account", r.CardSerial))
		}
		out[i] = StageProblem{Line: r.Line, Msg: strings.Join(msgs, "; ")}
	}
	return out, nil
}

// ApplyAccountBatch applies up to batch unapplied staged accounts of an
// import in one short transaction, through importRow (the one rule of an
// imported account): the batch's existing accounts are locked in id order,
// as a payment locks its one account, so the two never deadlock and a
// payment waits for one batch at most. A row that a change made since the
// check now conflicts is skipped (its savepoint rolled back) and returned,
// for an alert; the rest of the import goes on, since the switch was made.
// Rows 0 means the import is done.
func (s *Store) ApplyAccountBatch(ctx context.Context, importID, tariffID int64, batch int, at time.Time) (AccountBatch, error) {
	var b AccountBatch
	err := s.Tx(ctx, func(tx *Store) error {
		b = AccountBatch{}
		db := tx.db.WithContext(ctx)
		var rows []AccountStage
		if err := db.Clauses(forUpdate()).Where("import_id = ? AND applied = ?", importID, false).Order("id").Limit(batch).
			Find(&rows).Error; err != nil {
			return err
		}
		n := len(rows)
		b.Rows = n
		if n == 0 {
			return nil
		}
		nums := make([]string, n)
		ids := make([]int64, n)
		for i, r := range rows {
			nums[i], ids[i] = r.UserNumber, r.ID
		}
		var locked []int64
		if err := db.Model(&Account{}).Clauses(forUpdate()).Where("user_number IN ?", nums).Order("id").Pluck("id", &locked).Error; err != nil {
			return err
		}
		for i, r := range rows {
			sp := fmt.Sprintf("row%d", i)
			if err := db.SavePoint(sp).Error; err != nil {
				return err
			}
			rtx := &Store{db: db}
			created, msg, err := rtx.importRow(r.row(), tariffID, at)
			switch {
			case err != nil:
				return fmt.Errorf("models: import %d line %d: %w", importID, r.Line, err)
			case msg != "":
				if err := db.RollbackTo(sp).Error; err != nil {
					return err
				}
				b.Skipped = append(b.Skipped, StageProblem{Line: r.Line, Msg: msg})
			case created:
				b.Created++
			default:
				b.Updated++
			}
		}
		if err := db.Model(&AccountStage{}).Where("id IN ?", ids).Update("applied", true).Error; err != nil {
			return err
		}
		return db.Exec("UPDATE imports SET applied_rows = applied_rows + ?, updated_at = ? WHERE id = ?", n, at, importID).Error
	})
	return b, err
}

// AccountBatch is what applying a batch of staged accounts did.
type AccountBatch struct {
	Rows, Created, Updated int
	Skipped                []StageProblem
}

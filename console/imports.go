package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"gaspay/units"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"gaspay/customer"
	"gaspay/models"
	"gaspay/staff"
)

// Import headers.
const (
	BillsHeader    = "user_number,period,amount_fen,due_date"
	ReadingsHeader = "meter_number,read_at,reading_centi_m3"
)

// Import sizes: rows per staging write and per applying transaction. A
// batch locks at most applyBatch accounts for a few milliseconds, so a
// payment waits for one batch at worst, never for the whole import.
const (
	stageBatch = 1000
	applyBatch = 200
	// accountBatch is smaller: an account row is applied statement by
	// statement (importRow, under a savepoint), about 5 ms each on a
	// loaded machine, so 50 keep a batch's locks to a quarter second.
	accountBatch = 50
	maxImportErr = 100
	maxRows      = 500_000
)

// ImportResult says what an import did.
type ImportResult struct {
	Import  models.Import
	Elapsed time.Duration
	// Created and Updated count the accounts an accounts import created
	// and updated (those this call applied).
	Created, Updated int
}

// ImportError lists the lines of an import that changed nothing.
type ImportError = models.ImportError

// ImportBills imports the billing system's bills (CSV: BillsHeader, period
// YYYY-MM, amount in fen, due date YYYY-MM-DD): a new bill is created, an
// existing one (same account and period) takes the new amount and due
// date; the account's arrears follow. All or nothing: every line is
// checked (format, then against the database in staging) before anything
// is visible; a bad line is reported with its number and nothing changes.
// Errors: ImportError.
func (s *Service) ImportBills(ctx context.Context, by staff.Actor, name string, r io.Reader) (ImportResult, error) {
	return s.runImport(ctx, by, "bills", name, r)
}

// ImportReadings imports meter readings (CSV: ReadingsHeader, read_at
// YYYY-MM-DD, the meter's index in 0.01 m3), all or nothing.
// Errors: ImportError.
func (s *Service) ImportReadings(ctx context.Context, by staff.Actor, name string, r io.Reader) (ImportResult, error) {
	return s.runImport(ctx, by, "readings", name, r)
}

// ImportAccounts imports the billing system's accounts (CSV:
// customer.ImportHeader; the rules of a row are customer.ParseImport's and
// models' importRow's). Like bills, all or nothing without holding a lock
// for the run: every line is checked (format, then against the database in
// staging) before the switch; a bad line is reported with its number and
// nothing changes; after the switch the accounts are written in short
// batches, each locking only its own accounts, so payments never wait for
// the import. An existing account's balance is never overwritten.
// Errors: ImportError.
func (s *Service) ImportAccounts(ctx context.Context, by staff.Actor, name string, r io.Reader) (ImportResult, error) {
	return s.runImport(ctx, by, "accounts", name, r)
}

func (s *Service) runImport(ctx context.Context, by staff.Actor, kind, name string, r io.Reader) (ImportResult, error) {
	start := time.Now()
	var rows []models.ImportRow
	if kind == "accounts" {
		// Parsed whole before anything is written: a file with a bad line
		// leaves not even an import row.
		var err error
		if rows, err = customer.ParseImport(r); err != nil {
			return ImportResult{}, err
		}
		if _, err := s.store.TariffByCode(ctx, customer.DefaultTariff); err != nil {
			return ImportResult{}, fmt.Errorf("console: import: tariff %q: %w", customer.DefaultTariff, err)
		}
	}
	// An import a crash left committed but not applied is finished first.
	if err := s.ResumeImports(ctx); err != nil {
		return ImportResult{}, err
	}
	now := s.now().UTC()
	im := models.Import{Kind: kind, FileName: trimName(name), Actor: by.Name, Status: models.ImportStaging, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateImport(ctx, &im); err != nil {
		return ImportResult{}, err
	}
	var total int
	var bad models.ImportError
	var err error
	if kind == "accounts" {
		total, err = len(rows), s.stageAccounts(ctx, im.ID, rows)
	} else {
		total, bad, err = s.stage(ctx, kind, im.ID, r)
	}
	if err == nil && len(bad) == 0 {
		var probs []models.StageProblem
		switch kind {
		case "bills":
			probs, err = s.store.CheckStagedBills(ctx, im.ID, maxImportErr)
		case "readings":
			probs, err = s.store.CheckStagedReadings(ctx, im.ID, maxImportErr)
		default:
			probs, err = s.store.CheckStagedAccounts(ctx, im.ID, maxImportErr)
		}
		for _, p := range probs {
			bad = append(bad, models.RowError{Line: p.Line, Msg: p.Msg})
		}
	}
	if err != nil || len(bad) > 0 {
		// Nothing was visible; leave nothing behind either.
		if derr := s.dropImport(ctx, im); derr != nil {
			s.log.ErrorContext(ctx, "import cleanup", slog.Int64("import_id", im.ID), slog.String("err", derr.Error()))
		}
		if err != nil {
			return ImportResult{}, err
		}
		return ImportResult{}, bad
	}
	// The switch: one short transaction with its audit entry.
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		ok, err := tx.CommitImport(ctx, im.ID, total, s.now().UTC())
		if err != nil || !ok {
			return errors.Join(err, errors.New("console: import moved"))
		}
		return by.Audit(ctx, tx, s.now(), "import."+kind, "import:"+strconv.FormatInt(im.ID, 10), nil,
			map[string]any{"file": im.FileName, "rows": total}, "")
	})
	if err != nil {
		s.dropImport(ctx, im)
		return ImportResult{}, err
	}
	var res ImportResult
	if err := s.apply(ctx, im, &res); err != nil {
		return ImportResult{}, fmt.Errorf("console: import %d committed, application will resume: %w", im.ID, err)
	}
	res.Import, err = s.store.ImportByID(ctx, im.ID)
	res.Elapsed = time.Since(start)
	return res, err
}

func trimName(s string) string {
	if r := []rune(s); len(r) > 200 {
		return string(r[:200])
	}
	return s
}

// stageAccounts writes parsed accounts to staging in batches.
func (s *Service) stageAccounts(ctx context.Context, importID int64, rows []models.ImportRow) error {
	for len(rows) > 0 {
		n := min(len(rows), stageBatch)
		if err := s.store.StageAccounts(ctx, importID, rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// stage parses the file and writes its rows to staging in batches. Bad
// lines are collected (up to maxImportErr) and nothing more is staged
// once one is found.
func (s *Service) stage(ctx context.Context, kind string, importID int64, r io.Reader) (int, models.ImportError, error) {
	br := bufio.NewReader(r)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	want := BillsHeader
	if kind == "readings" {
		want = ReadingsHeader
	}
	if err != nil || strings.Join(header, ",") != want {
		return 0, models.ImportError{{Line: 1, Msg: "表头必须是 " + want}}, nil
	}
	var bad models.ImportError
	var bills []models.BillStage
	var readings []models.ReadingStage
	seen := map[string]int{}
	total := 0
	flush := func() error {
		var err error
		if kind == "bills" {
			err = s.store.StageBills(ctx, bills)
		} else {
			err = s.store.StageReadings(ctx, readings)
		}
		bills, readings = bills[:0], readings[:0]
		return err
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			bad = append(bad, models.RowError{Line: line, Msg: "CSV 格式错误"})
		} else if total++; total > maxRows {
			bad = append(bad, models.RowError{Line: line, Msg: fmt.Sprintf("超过 %d 行，请拆分文件", maxRows)})
			break
		} else {
			var key, msg string
			if kind == "bills" {
				var b models.BillStage
				b, key, msg = parseBill(rec)
				b.ImportID, b.Line = importID, line
				bills = append(bills, b)
			} else {
				var rd models.ReadingStage
				rd, key, msg = s.parseReading(rec)
				rd.ImportID, rd.Line = importID, line
				readings = append(readings, rd)
			}
			if msg == "" {
				if prev, dup := seen[key]; dup {
					msg = fmt.Sprintf("与第 %d 行重复", prev)
				} else {
					seen[key] = line
				}
			}
			if msg != "" {
				bad = append(bad, models.RowError{Line: line, Msg: msg})
			}
		}
		if len(bad) >= maxImportErr {
			break
		}
		if len(bad) == 0 && len(bills)+len(readings) >= stageBatch {
			if err := flush(); err != nil {
				return total, nil, err
			}
		}
	}
	if len(bad) > 0 {
		return total, bad, nil
	}
	if total == 0 {
		return 0, models.ImportError{{Line: 2, Msg: "文件没有数据行"}}, nil
	}
	return total, nil, flush()
}

func parseBill(rec []string) (models.BillStage, string, string) {
	if len(rec) != 4 {
		return models.BillStage{}, "", fmt.Sprintf("应有 4 列，实有 %d 列", len(rec))
	}
	f := func(i int) string { return strings.TrimSpace(rec[i]) }
	b := models.BillStage{UserNumber: f(0), Period: f(1), DueDate: f(3)}
	var msgs []string
	if !customer.ValidDigits(b.UserNumber, customer.MaxUserNumber) {
		msgs = append(msgs, "用户号必须是数字")
	}
	if p, err := time.Parse("2006-01", b.Period); err != nil || p.Format("2006-01") != b.Period {
		msgs = append(msgs, "账期必须是 YYYY-MM")
	}
	n, err := strconv.ParseInt(f(2), 10, 64)
	if err != nil || n <= 0 || n > 100_000_000 || !customer.ValidDigits(f(2), 12) {
		msgs = append(msgs, "金额必须是正整数（分）")
	}
	b.AmountFen = n
	if d, err := time.Parse("2006-01-02", b.DueDate); err != nil || d.Format("2006-01-02") != b.DueDate {
		msgs = append(msgs, "缴费截止日必须是 YYYY-MM-DD")
	}
	return b, b.UserNumber + "/" + b.Period, strings.Join(msgs, "；")
}

func (s *Service) parseReading(rec []string) (models.ReadingStage, string, string) {
	if len(rec) != 3 {
		return models.ReadingStage{}, "", fmt.Sprintf("应有 3 列，实有 %d 列", len(rec))
	}
	f := func(i int) string { return strings.TrimSpace(rec[i]) }
	r := models.ReadingStage{MeterNumber: f(0)}
	var msgs []string
	if !customer.ValidDigits(r.MeterNumber, customer.MaxMeterNumber) {
		msgs = append(msgs, "表号必须是数字")
	}
	d, err := time.ParseInLocation("2006-01-02", f(1), s.cfg.Location)
	if err != nil || d.Format("2006-01-02") != f(1) {
		msgs = append(msgs, "抄表日期必须是 YYYY-MM-DD")
	}
	r.ReadAt = d.UTC()
	n, err := strconv.ParseInt(f(2), 10, 64)
	if err != nil || n < 0 || n > 10_000_000_000 || !customer.ValidDigits(f(2), 11) {
		msgs = append(msgs, "读数必须是非负整数（0.01 立方米）")
	}
	r.ReadingCentiM3 = n
	return r, r.MeterNumber + "/" + f(1), strings.Join(msgs, "；")
}

// dropImport removes a failed import's staged rows in batches, then the
// import itself.
func (s *Service) dropImport(ctx context.Context, im models.Import) error {
	ctx = context.WithoutCancel(ctx)
	for {
		n, err := s.store.DropStaging(ctx, im.Kind, im.ID, 5000)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	return s.store.DeleteImport(ctx, im.ID)
}

// apply applies a committed import batch by batch, then marks it applied.
func (s *Service) apply(ctx context.Context, im models.Import, res *ImportResult) error {
	var tariffID int64
	if im.Kind == "accounts" {
		t, err := s.store.TariffByCode(ctx, customer.DefaultTariff)
		if err != nil {
			return err
		}
		tariffID = t.ID
	}
	for {
		var n int
		switch im.Kind {
		case "accounts":
			b, err := s.store.ApplyAccountBatch(ctx, im.ID, tariffID, accountBatch, s.now().UTC())
			if err != nil {
				return err
			}
			for _, p := range b.Skipped {
				s.alertSkipped(ctx, im, p)
			}
			n = b.Rows
			if res != nil {
				res.Created += b.Created
				res.Updated += b.Updated
			}
		case "bills":
			done, err := s.store.ApplyBillBatch(ctx, im.ID, applyBatch, s.now().UTC())
			if err != nil {
				return err
			}
			for _, d := range done {
				if d.PaidOverFen > 0 {
					s.alertPaidOver(ctx, im, d)
				}
			}
			n = len(done)
		default:
			var err error
			if n, err = s.store.ApplyReadingBatch(ctx, im.ID, applyBatch, s.now().UTC()); err != nil {
				return err
			}
		}
		if n == 0 {
			return s.store.FinishImport(ctx, im.ID, s.now().UTC())
		}
		if s.afterBatch != nil {
			s.afterBatch(im.ID, n)
		}
	}
}

func (s *Service) alertPaidOver(ctx context.Context, im models.Import, d models.BillApplied) {
	detail := fmt.Sprintf("导入 %d：账户 %d 的 %s 账单在导入期间多缴 %s 元（超出导入金额），账单保留已缴金额",
		im.ID, d.AccountID, d.Period, units.Fen(d.PaidOverFen).Yuan())
	if err := s.store.AddAlert(ctx, "import_paid_over", "", detail, s.now().UTC()); err != nil {
		s.log.ErrorContext(ctx, "import alert", slog.String("err", err.Error()))
	}
}

// alertSkipped tells staff about an account row that a change made
// between the check and the switch turned into a conflict.
func (s *Service) alertSkipped(ctx context.Context, im models.Import, p models.StageProblem) {
	detail := fmt.Sprintf("导入 %d 第 %d 行未生效：%s（文件校验后数据已变化）", im.ID, p.Line, p.Msg)
	if err := s.store.AddAlert(ctx, "import_row_skipped", "", detail, s.now().UTC()); err != nil {
		s.log.ErrorContext(ctx, "import alert", slog.String("err", err.Error()))
	}
}

// ResumeImports finishes every committed import a crash left half applied
// (the switch was made, so it must complete), and clears staging that a
// crash left behind before a switch.
func (s *Service) ResumeImports(ctx context.Context) error {
	list, err := s.store.Imports(ctx, models.ImportCommitted, 100)
	if err != nil {
		return err
	}
	for _, im := range list {
		if err := s.apply(ctx, im, nil); err != nil {
			return err
		}
	}
	stale, err := s.store.Imports(ctx, models.ImportStaging, 100)
	if err != nil {
		return err
	}
	for _, im := range stale {
		if s.now().Sub(im.UpdatedAt) > time.Hour {
			if err := s.dropImport(ctx, im); err != nil {
				return err
			}
		}
	}
	return nil
}

// Imports lists recent imports.
func (s *Service) Imports(ctx context.Context) ([]models.Import, error) {
	return s.store.Imports(ctx, "", 50)
}

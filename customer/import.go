package customer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gaspay/models"
)

// ImportHeader is the header line the billing system's export must have.
const ImportHeader = "user_number,holder_name,address,phone,kind,meter_number,card_serial,card_type,balance_fen"

// maxImportRows bounds one file; a bigger export is split.
const maxImportRows = 200_000

// ParseImport reads the billing system's CSV export. It checks every line
// and reports every bad one with its line number; rows are returned only
// when all are good. A UTF-8 byte-order mark (as spreadsheet programs
// write) is accepted.
func ParseImport(r io.Reader) ([]models.ImportRow, error) {
	br := bufio.NewReader(r)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // counted below, with a clearer message
	cr.ReuseRecord = false

	var bad models.ImportError
	header, err := cr.Read()
	if err != nil {
		return nil, models.ImportError{{Line: 1, Msg: "no header: " + errMsg(err)}}
	}
	if strings.Join(header, ",") != ImportHeader {
		return nil, models.ImportError{{Line: 1, Msg: "header must be exactly " + ImportHeader}}
	}
	var rows []models.ImportRow
	firstLine := map[string]map[string]int{"user number": {}, "meter number": {}, "card serial": {}}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// FieldPos is only defined after a successful Read.
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			bad = append(bad, models.RowError{Line: line, Msg: errMsg(err)})
			if len(bad) > 100 {
				break
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(rows)+len(bad) >= maxImportRows {
			bad = append(bad, models.RowError{Line: line, Msg: fmt.Sprintf("more than %d rows: split the file", maxImportRows)})
			break
		}
		row, msgs := parseRow(rec)
		row.Line = line
		for _, f := range [...]struct{ what, v string }{{"user number", row.UserNumber}, {"meter number", row.MeterNumber}, {"card serial", row.CardSerial}} {
			what, v := f.what, f.v
			if v == "" {
				continue
			}
			if prev, dup := firstLine[what][v]; dup {
				msgs = append(msgs, fmt.Sprintf("%s %s repeats line %d", what, v, prev))
			} else {
				firstLine[what][v] = line
			}
		}
		if len(msgs) > 0 {
			bad = append(bad, models.RowError{Line: line, Msg: strings.Join(msgs, "; ")})
			continue
		}
		rows = append(rows, row)
	}
	if len(bad) > 0 {
		return nil, bad
	}
	return rows, nil
}

// parseRow checks one record, returning every problem it has.
func parseRow(rec []string) (models.ImportRow, []string) {
	if len(rec) != 9 {
		return models.ImportRow{}, []string{fmt.Sprintf("want 9 fields, got %d", len(rec))}
	}
	var msgs []string
	bad := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	for i, f := range rec {
		if !utf8.ValidString(f) {
			bad("field %d is not UTF-8 (export the file as UTF-8)", i+1)
			return models.ImportRow{}, msgs
		}
	}
	field := func(i int) string { return strings.TrimSpace(rec[i]) }
	r := models.ImportRow{
		UserNumber:  field(0),
		HolderName:  field(1),
		Address:     field(2),
		Phone:       field(3),
		MeterNumber: field(5),
		CardSerial:  strings.ToUpper(field(6)),
	}
	if !ValidDigits(r.UserNumber, MaxUserNumber) {
		bad("user_number must be 1 to %d digits", MaxUserNumber)
	}
	if !printable(r.HolderName, 64) || r.HolderName == "" {
		bad("holder_name must be 1 to 64 printable characters")
	}
	if !printable(r.Address, 255) {
		bad("address must be at most 255 printable characters")
	}
	if !validPhone(r.Phone) {
		bad("phone must be at most 20 digits, spaces, + or -")
	}
	kind, ok := models.ParseAccountKind(field(4))
	if !ok {
		bad("kind must be ordinary, iot or iccard")
	}
	r.Kind = kind
	switch {
	case r.MeterNumber == "" && kind == models.KindIoT:
		bad("an iot account needs a meter_number")
	case r.MeterNumber != "" && !ValidDigits(r.MeterNumber, MaxMeterNumber):
		bad("meter_number must be 1 to %d digits", MaxMeterNumber)
	}
	switch {
	case kind == models.KindICCard && r.CardSerial == "":
		bad("an iccard account needs a card_serial")
	case kind != models.KindICCard && (r.CardSerial != "" || field(7) != ""):
		bad("card_serial and card_type are for iccard accounts only")
	case kind == models.KindICCard:
		if !validSerial(r.CardSerial) {
			bad("card_serial must be 16 hex digits")
		}
		if r.CardType, ok = models.ParseCardType(field(7)); !ok {
			bad("card_type must be volume or amount")
		}
	}
	if b := field(8); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 || n > 100_000_000_00 || !ValidDigits(b, 12) {
			bad("balance_fen must be a whole number of fen, 0 or more")
		}
		r.BalanceFen = n
	}
	return r, msgs
}

func printable(s string, maxRunes int) bool {
	n := 0
	for _, r := range s {
		n++
		if !unicode.IsPrint(r) && r != ' ' && r != '\u3000' {
			return false
		}
	}
	return n <= maxRunes
}

func validPhone(s string) bool {
	if len(s) > 20 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9') && r != '+' && r != '-' && r != ' ' {
			return false
		}
	}
	return true
}

func validSerial(s string) bool {
	if len(s) != 16 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9') && !(r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}

func errMsg(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// DefaultTariff is the tariff imported accounts get.
const DefaultTariff = "residential"

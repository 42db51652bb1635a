package customer

import (
	"errors"
	"strings"
	"testing"

	"gaspay/models"
)

const header = ImportHeader + "\n"

func TestParseImport(t *testing.T) {
	in := "\xef\xbb\xbf" + header +
		"031140086,秦淮,秦淮人家6号楼3单元501室,13800000001,iccard,,0000000012345678,volume,30\n" +
		"031130001,李娜,天山路99号,,iot,20231100001,,,\n" +
		"\"031120001\",\"王洪, 户主\",\"人民路 18 号\",138-0000-0003,ordinary,,,,0\n"
	rows, err := ParseImport(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Line != 2 || rows[0].CardSerial != "0000000012345678" || rows[0].CardType != models.CardVolume ||
		rows[0].BalanceFen != 30 || rows[1].MeterNumber != "20231100001" || rows[1].BalanceFen != 0 || rows[2].HolderName != "王洪, 户主" {
		t.Fatalf("rows = %+v", rows)
	}
}

func TestParseImportReportsEveryBadLine(t *testing.T) {
	in := header +
		"031140086,秦淮,addr,,iccard,,0000000012345678,volume,30\n" + // 2 good
		"03114008x,秦淮,addr,,ordinary,,,,0\n" + // 3 bad number
		"031140087,,addr,,ordinary,,,,0\n" + // 4 no name
		"031140088,王五,addr,,gas,,,,0\n" + // 5 bad kind
		"031140089,王五,addr,,iot,,,,0\n" + // 6 iot without meter
		"031140090,王五,addr,,iccard,,XYZ,volume,0\n" + // 7 bad serial
		"031140091,王五,addr,,iccard,,00000000AABBCCDD,coins,0\n" + // 8 bad card type
		"031140092,王五,addr,,ordinary,,00000000AABBCCDD,volume,0\n" + // 9 card on ordinary
		"031140093,王五,addr,,ordinary,,,,-5\n" + // 10 negative balance
		"031140094,王五,addr,,ordinary,,,,1.5\n" + // 11 fractional balance
		"031140086,秦淮,addr,,ordinary,,,,0\n" + // 12 duplicate user number
		"031140095,王五,addr\n" + // 13 short row
		"031140096,王\xff五,addr,,ordinary,,,,0\n" + // 14 not UTF-8
		"031140097,王五,addr,phone!,ordinary,,,,0\n" // 15 bad phone
	_, err := ParseImport(strings.NewReader(in))
	var ie models.ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v", err)
	}
	lines := map[int]string{}
	for _, r := range ie {
		lines[r.Line] = r.Msg
	}
	for line := 3; line <= 15; line++ {
		if lines[line] == "" {
			t.Errorf("line %d not reported; got %v", line, lines)
		}
	}
	if _, bad := lines[2]; bad || len(lines) != 13 {
		t.Errorf("reported %v", lines)
	}
	if !strings.Contains(lines[12], "repeats line 2") {
		t.Errorf("duplicate: %q", lines[12])
	}
}

func TestParseImportHeader(t *testing.T) {
	for _, in := range []string{"", "user_number,holder_name\n1,a\n", "user_number;holder_name;address;phone;kind;meter_number;card_serial;card_type;balance_fen\n"} {
		_, err := ParseImport(strings.NewReader(in))
		var ie models.ImportError
		if !errors.As(err, &ie) || ie[0].Line != 1 {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func FuzzParseImport(f *testing.F) {
	f.Add(header + "031140086,秦淮,addr,,iccard,,0000000012345678,volume,30\n")
	f.Add(header + "\"a\nb\",\"\"\"\",,,,,,,\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := ParseImport(strings.NewReader(in))
		if err == nil {
			for _, r := range rows {
				if !ValidDigits(r.UserNumber, MaxUserNumber) || r.BalanceFen < 0 {
					t.Fatalf("accepted bad row %+v", r)
				}
			}
		}
	})
}

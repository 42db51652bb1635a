package customer

import "testing"

func TestNormalizeName(t *testing.T) {
	same := [][]string{
		{"秦淮", "秦 淮", " 秦　淮 ", "秦\t淮"},
		{"阿依古丽·买买提", "阿依古丽 · 买买提", "阿依古丽•买买提", "阿依古丽・买买提", "阿依古丽．买买提", "阿依古丽.买买提"},
		{"Wang Hong", "ＷＡＮＧ　ＨＯＮＧ", "wanghong"},
	}
	for _, group := range same {
		for _, s := range group[1:] {
			if NormalizeName(s) != NormalizeName(group[0]) {
				t.Errorf("%q and %q should match: %q vs %q", s, group[0], NormalizeName(s), NormalizeName(group[0]))
			}
		}
	}
	if NormalizeName("秦淮") == NormalizeName("秦准") {
		t.Error("different names match")
	}
}

func TestValidHolderName(t *testing.T) {
	for _, tt := range []struct {
		s  string
		ok bool
	}{
		{"秦淮", true}, {"阿依古丽·买买提", true}, {"Mary-Jane Li", true}, {"ＷＡＮＧ", true},
		{"", false}, {"   ", false}, {"·", false}, {"秦淮1", false}, {"O'Brien", false}, {"秦淮;--", false},
		{"秦\x00淮", false}, {"秦\n淮", false}, {"\xff", false}, {string(make([]rune, 33)), false},
		{"秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮", true},
		{"秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦淮秦", false},
	} {
		if got := ValidHolderName(tt.s); got != tt.ok {
			t.Errorf("ValidHolderName(%q) = %v, want %v", tt.s, got, tt.ok)
		}
	}
}

func TestMasking(t *testing.T) {
	for _, tt := range []struct{ in, name, addr string }{
		{"秦淮", "秦*", "**"},
		{"王", "*", "*"},
		{"阿依古丽·买买提", "阿*******", "阿依古丽·买****"},
		{"秦淮人家6号楼3单元501室", "秦*************", "秦淮人家6号****"},
		{"天山路9号", "天****", "天山****"},
		{"", "", ""},
	} {
		if got := MaskName(tt.in); got != tt.name {
			t.Errorf("MaskName(%q) = %q, want %q", tt.in, got, tt.name)
		}
		if got := MaskAddress(tt.in); got != tt.addr {
			t.Errorf("MaskAddress(%q) = %q, want %q", tt.in, got, tt.addr)
		}
	}
}

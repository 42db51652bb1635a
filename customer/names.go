package customer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// NormalizeName folds a holder name to the form two spellings of the same
// name share: full-width letters become half-width, every kind of space
// disappears (including the ideographic one, U+3000), the middle dots of
// Uyghur and other transliterated names (· • ・ ．) become one, and Latin
// letters lose their case. 阿依古丽 · 买买提 and 阿依古丽·买买提 match.
func NormalizeName(s string) string {
	s = width.Fold.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			continue
		case r == '·' || r == '•' || r == '・' || r == '.' || r == '‧' || r == '∙':
			b.WriteRune('·')
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// MaxNameRunes bounds a holder name a customer types.
const MaxNameRunes = 32

// ValidHolderName reports whether s can be a holder name a customer types:
// 1 to 32 letters, with spaces, middle dots and hyphens between them.
// Digits, quotes, control characters and other punctuation are refused,
// which keeps the field free of anything but a name.
func ValidHolderName(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	n, letters := 0, 0
	for _, r := range s {
		n++
		switch {
		case unicode.IsLetter(r):
			letters++
		case unicode.IsMark(r), unicode.IsSpace(r) && r != '\n' && r != '\r' && r != '\t',
			r == '·', r == '•', r == '・', r == '.', r == '．', r == '-':
		default:
			return false
		}
	}
	return letters > 0 && n <= MaxNameRunes
}

// MaskName hides all but the first character of a name: 秦淮 → 秦*,
// 阿依古丽·买买提 → 阿******.
func MaskName(s string) string {
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return ""
	}
	first, _ := utf8.DecodeRuneInString(s)
	if n == 1 {
		return "*"
	}
	return string(first) + strings.Repeat("*", n-1)
}

// MaskAddress keeps the district and street part of an address and hides
// the building and door: 秦淮人家6号楼3单元501室 → 秦淮人家6号****.
func MaskAddress(s string) string {
	const keep = 6
	rs := []rune(s)
	if len(rs) <= keep {
		if len(rs) <= 2 {
			return strings.Repeat("*", len(rs))
		}
		return string(rs[:len(rs)/2]) + "****"
	}
	return string(rs[:keep]) + "****"
}

// ValidDigits reports whether s is 1 to max ASCII digits.
func ValidDigits(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Number lengths: the card image holds 12 digits of user number.
const (
	MaxUserNumber  = 12
	MaxMeterNumber = 20
)

package staff

import (
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1, truncated to 6 digits.
func TestTOTPVectors(t *testing.T) {
	secret := b32.EncodeToString([]byte("12345678901234567890"))
	for _, tc := range []struct {
		unix int64
		want string
	}{{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"}} {
		got, err := TOTPCode(secret, time.Unix(tc.unix, 0))
		if err != nil || got != tc.want {
			t.Errorf("TOTP at %d = %q, %v; want %s", tc.unix, got, err, tc.want)
		}
	}
	at := time.Unix(1111111111, 0)
	if _, ok := checkTOTP(secret, "050471", at.Add(30*time.Second)); !ok {
		t.Error("a code one step old must pass (clock drift)")
	}
	if _, ok := checkTOTP(secret, "050471", at.Add(90*time.Second)); ok {
		t.Error("a code three steps old must fail")
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := CheckPassword(h, "correct horse battery"); !ok || err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if ok, _ := CheckPassword(h, "correct horse batterz"); ok {
		t.Fatal("wrong password accepted")
	}
	if _, err := HashPassword("short"); err != ErrWeakPassword {
		t.Fatalf("short password: %v", err)
	}
	if _, err := CheckPassword("$argon2id$v=19$m=0,t=1,p=1$x$y", "x"); err == nil {
		t.Fatal("malformed hash accepted")
	}
	if _, err := CheckPassword(dummyHash, "anything"); err != nil {
		t.Fatalf("dummy hash must be well-formed: %v", err)
	}
}

func TestGrants(t *testing.T) {
	if Viewer.Allows(Act) || !Operator.Allows(Act) || Operator.Allows(Approve) || !Finance.Allows(Approve) || !Admin.Allows(Manage) || Finance.Allows(Manage) {
		t.Fatal("grants table changed")
	}
}

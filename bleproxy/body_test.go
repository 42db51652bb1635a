package bleproxy_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"gaspay/bleproxy"
)

func TestBodiesRoundTrip(t *testing.T) {
	v := loadVectors(t)
	msgs := []bleproxy.Message{
		bleproxy.ReadCardBody{},
		bleproxy.CardBody{Status: bleproxy.CardPresent, Image: v.image},
		bleproxy.CardBody{Status: bleproxy.CardAbsent},
		bleproxy.CardBody{Status: bleproxy.CardUnreadable},
		bleproxy.WriteCardBody{WriteID: v.writeID, Expected: v.image, New: v.newImage},
		bleproxy.WriteResultBody{WriteID: v.writeID, Status: bleproxy.WriteVerified, ImageAfter: v.newImage},
		bleproxy.WriteResultBody{WriteID: v.writeID, Status: bleproxy.WriteNoCard},
		bleproxy.WriteResultBody{WriteID: v.writeID, Status: bleproxy.WriteFailed},
		bleproxy.WriteResultBody{WriteID: v.writeID, Status: bleproxy.WriteMismatch, ImageAfter: v.image},
		bleproxy.WriteResultBody{WriteID: v.writeID, Status: bleproxy.WriteReadBackDiffers, ImageAfter: v.image},
		bleproxy.ErrorBody{Code: bleproxy.CodeMalformed},
		bleproxy.ErrorBody{Code: bleproxy.CodeRefused, Message: "卡已挂失 card reported lost"},
		bleproxy.ErrorBody{Code: 0xbeef, Message: strings.Repeat("x", bleproxy.MaxErrorMessage)},
	}
	for _, m := range msgs {
		t.Run(m.Type().String(), func(t *testing.T) {
			b, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := bleproxy.DecodeBody(m.Type(), b)
			if err != nil {
				t.Fatal(err)
			}
			if got != m {
				t.Errorf("got %+v, want %+v", got, m)
			}
			// Every body fits a sealed frame.
			if _, err := bleproxy.Seal(v.ksess, bleproxy.BoxToServer, bleproxy.TypeError, v.boxID, 1, b); err != nil {
				t.Errorf("does not fit a frame: %v", err)
			}
		})
	}
}

func TestDecodeBodyRejects(t *testing.T) {
	img := bytes.Repeat([]byte{0x47}, 64)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		typ  bleproxy.Type
		in   []byte
		want error
	}{
		{"READ_CARD with a byte", bleproxy.TypeReadCard, []byte{0}, bleproxy.ErrBadBody},
		{"CARD empty", bleproxy.TypeCard, nil, bleproxy.ErrBadBody},
		{"CARD present, no image", bleproxy.TypeCard, []byte{0}, bleproxy.ErrBadBody},
		{"CARD present, short image", bleproxy.TypeCard, cat([]byte{0}, img[:63]), bleproxy.ErrBadBody},
		{"CARD present, long image", bleproxy.TypeCard, cat([]byte{0}, img, []byte{0}), bleproxy.ErrBadBody},
		{"CARD absent with image", bleproxy.TypeCard, cat([]byte{1}, img), bleproxy.ErrBadBody},
		{"CARD unreadable with byte", bleproxy.TypeCard, []byte{2, 0}, bleproxy.ErrBadBody},
		{"CARD status 3", bleproxy.TypeCard, []byte{3}, bleproxy.ErrBadBody},
		{"WRITE_CARD 143", bleproxy.TypeWriteCard, make([]byte, 143), bleproxy.ErrBadBody},
		{"WRITE_CARD 145", bleproxy.TypeWriteCard, make([]byte, 145), bleproxy.ErrBadBody},
		{"WRITE_RESULT 80", bleproxy.TypeWriteResult, make([]byte, 80), bleproxy.ErrBadBody},
		{"WRITE_RESULT 82", bleproxy.TypeWriteResult, make([]byte, 82), bleproxy.ErrBadBody},
		{"WRITE_RESULT status 5", bleproxy.TypeWriteResult, cat(make([]byte, 16), []byte{5}, img), bleproxy.ErrBadBody},
		{"WRITE_RESULT no card with image", bleproxy.TypeWriteResult, cat(make([]byte, 16), []byte{1}, img), bleproxy.ErrBadBody},
		{"ERROR empty", bleproxy.TypeError, nil, bleproxy.ErrBadBody},
		{"ERROR one byte", bleproxy.TypeError, []byte{1}, bleproxy.ErrBadBody},
		{"ERROR bad UTF-8", bleproxy.TypeError, []byte{0, 1, 'o', 0xff, 'k'}, bleproxy.ErrBadBody},
		{"ERROR truncated rune", bleproxy.TypeError, []byte{0, 1, 0xe5, 0x8d}, bleproxy.ErrBadBody},
		{"ERROR too long", bleproxy.TypeError, make([]byte, 2+bleproxy.MaxErrorMessage+1), bleproxy.ErrBadBody},
		{"HELLO has no sealed body", bleproxy.TypeHello, nil, bleproxy.ErrUnexpectedType},
		{"unknown type", bleproxy.Type(0x55), nil, bleproxy.ErrUnexpectedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := bleproxy.DecodeBody(tt.typ, tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if m != nil {
				t.Errorf("message %+v returned with error", m)
			}
		})
	}
}

func TestEncodeBodyRejects(t *testing.T) {
	img := [64]byte{1}
	tests := []struct {
		name string
		m    bleproxy.Message
	}{
		{"CARD absent with image", bleproxy.CardBody{Status: bleproxy.CardAbsent, Image: img}},
		{"CARD status 3", bleproxy.CardBody{Status: 3}},
		{"WRITE_RESULT status 5", bleproxy.WriteResultBody{Status: 5}},
		{"WRITE_RESULT no card with image", bleproxy.WriteResultBody{Status: bleproxy.WriteNoCard, ImageAfter: img}},
		{"ERROR bad UTF-8", bleproxy.ErrorBody{Code: 1, Message: "\xc3"}},
		{"ERROR too long", bleproxy.ErrorBody{Code: 1, Message: strings.Repeat("é", bleproxy.MaxErrorMessage/2+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.m.Encode(); !errors.Is(err, bleproxy.ErrBadBody) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestErrorBodyIsAnError(t *testing.T) {
	var err error = bleproxy.ErrorBody{Code: bleproxy.CodeRefused, Message: "card \"lost\""}
	var eb bleproxy.ErrorBody
	if !errors.As(err, &eb) || eb.Code != bleproxy.CodeRefused {
		t.Fatal("errors.As failed")
	}
	if got := err.Error(); got != `bleproxy: peer error refused: "card \"lost\""` {
		t.Errorf("Error() = %s", got)
	}
}

package bleproxy_test

import (
	"bytes"
	"fmt"

	"gaspay/bleproxy"
)

// Example plays one purchase end to end: handshake, read, write, meter.
// The phone only carries the frames; in production each arrow is an HTTPS
// request and a BLE exchange, and the server's Session lives in Redis.
func Example() {
	// Server configuration and a provisioned box. Real keys come from
	// configuration secrets; nonces come from crypto/rand.
	master, _ := bleproxy.ParseMasterKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	boxID, _ := bleproxy.ParseBoxID("4742000000000001")
	box := bleproxy.NewBox(boxID, bleproxy.DeriveBoxKey(master, boxID), bleproxy.BoxConfig{Firmware: 0x0102})

	// The card in the box, as last written back by the meter.
	serial, _ := bleproxy.ParseCardSerial("0000000012345678")
	kcard := bleproxy.DeriveCardKey(master, serial)
	raw, _ := bleproxy.CardImage{
		CardType: bleproxy.CardVolume, UserNumber: "031140086", Serial: serial,
		Seq: 4, State: bleproxy.CardLoaded, MeterRemaining: 1250, MeterUsage: 123456,
	}.Seal(kcard)
	card := &bleproxy.Card{Image: raw}
	box.InsertCard(card)

	// Box → server: HELLO. Server → box: SESSION.
	hello, _ := box.Hello()
	nonce, _ := bleproxy.NewNonce(nil)
	hs, err := bleproxy.ServerHandshake(master, hello, 0 /* highest stored HELLO counter */, nonce)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := box.HandleSession(hs.Reply); err != nil {
		fmt.Println(err)
		return
	}
	server := hs.Session

	// READ_CARD → CARD.
	f, _ := server.SealMessage(bleproxy.ReadCardBody{})
	f, _ = box.Handle(f)
	msg, _ := server.OpenMessage(f)
	read := msg.(bleproxy.CardBody)
	img, kcard, err := bleproxy.OpenCardImage(master, read.Image)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("card", img.Serial, "purchase", img.Seq, img.State, "account match:", img.HasUserNumber("031140086"))

	// WRITE_CARD → WRITE_RESULT: 100.00 m3.
	next, _ := img.NextPurchase(10000)
	newRaw, _ := next.Seal(kcard)
	f, _ = server.SealMessage(bleproxy.WriteCardBody{WriteID: bleproxy.WriteID{0xa0}, Expected: read.Image, New: newRaw})
	f, _ = box.Handle(f)
	msg, _ = server.OpenMessage(f)
	res := msg.(bleproxy.WriteResultBody)
	fmt.Println("write", res.Status, "card holds new image:", bytes.Equal(res.ImageAfter[:], newRaw[:]))

	// The customer inserts the card into the meter, twice.
	meter := &bleproxy.Meter{Serial: serial, LastSeq: 4, Remaining: 1250, Usage: 123456}
	box.RemoveCard()
	card.Image, err = meter.Insert(kcard, card.Image)
	fmt.Println("meter remaining", meter.Remaining, err)
	_, err = meter.Insert(kcard, newRaw) // the same purchase, written again
	fmt.Println("again:", err)

	// Output:
	// card 0000000012345678 purchase 4 loaded account match: true
	// write verified card holds new image: true
	// meter remaining 11250 <nil>
	// again: bleproxy: purchase is not the next sequence: card purchase 5, meter loaded 5
}

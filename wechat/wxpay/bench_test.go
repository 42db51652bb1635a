package wxpay_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
)

// BenchmarkPrepayJSAPI is one JSAPI order through the SDK and the fake over
// loopback HTTP: three RSA-2048 signatures (request, response, paySign) and
// two verifications, plus JSON and HTTP. Compare with BenchmarkRSASign to
// see how much of an order's cost is signing.
func BenchmarkPrepayJSAPI(b *testing.B) {
	e := newEnv(b)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.client.PrepayJSAPI(ctx, e.jsapiOrder(3000)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepayJSAPIParallel is the same with GOMAXPROCS clients at once.
func BenchmarkPrepayJSAPIParallel(b *testing.B) {
	e := newEnv(b)
	ctx := b.Context()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.client.PrepayJSAPI(ctx, e.jsapiOrder(3000)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRSASign is one RSA-2048 PKCS#1 v1.5 SHA-256 signature, the
// unit of work that bounds order throughput per core.
func BenchmarkRSASign(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256([]byte("POST\n/v3/pay/transactions/jsapi\n1700000000\nnonce\n{}\n"))
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSAVerify is one verification, for completeness: about 30 times
// cheaper than signing.
func BenchmarkRSAVerify(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256([]byte("ts\nnonce\n{}\n"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

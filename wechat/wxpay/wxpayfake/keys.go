package wxpayfake

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
)

// Keys is the key material of one merchant and of "WeChat Pay" for a sandbox
// or a test. Both sides are generated together because the fake needs the
// merchant's public key and the platform's private key, and the client needs
// the other halves. Nothing is ever written to disk: keys live as long as the
// process, so no test key can leak into the repository.
type Keys struct {
	// MerchantKey signs the merchant's requests; the fake verifies with its
	// public half.
	MerchantKey *rsa.PrivateKey
	// MerchantSerialNo is the serial of the (imaginary) merchant API
	// certificate, 40 upper-case hex digits like a real one.
	MerchantSerialNo string
	// PlatformKey signs the fake's responses and notifications; the client
	// verifies with its public half.
	PlatformKey *rsa.PrivateKey
	// PlatformPublicKeyID names PlatformKey, "PUB_KEY_ID_" and digits.
	PlatformPublicKeyID string
	// APIv3Key is the 32-character symmetric key that encrypts notification
	// resources.
	APIv3Key string
}

// NewKeys generates two RSA-2048 key pairs, a merchant serial, a public key
// id and an APIv3 key. It takes about 0.1 s, so tests generate keys once per
// top-level test rather than per case.
func NewKeys() (Keys, error) {
	merchant, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Keys{}, fmt.Errorf("wxpayfake: merchant key: %w", err)
	}
	platform, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Keys{}, fmt.Errorf("wxpayfake: platform key: %w", err)
	}
	return Keys{
		MerchantKey:         merchant,
		MerchantSerialNo:    randString(upperHex, 40),
		PlatformKey:         platform,
		PlatformPublicKeyID: "PUB_KEY_ID_" + randString(digits, 30),
		APIv3Key:            randString(alphanumeric, 32),
	}, nil
}

// Config returns a fake configuration for merchant mchID built from these
// keys. appIDs lists the app ids bound to the merchant (none: any is
// accepted). The caller may still set the clock, the HTTP client and the
// other options on the result.
func (k Keys) Config(mchID string, appIDs ...string) Config {
	return Config{
		MchID:               mchID,
		AppIDs:              appIDs,
		MerchantPublicKey:   &k.MerchantKey.PublicKey,
		MerchantSerialNo:    k.MerchantSerialNo,
		PlatformKey:         k.PlatformKey,
		PlatformPublicKeyID: k.PlatformPublicKeyID,
		APIv3Key:            k.APIv3Key,
	}
}

// String masks the secrets so that Keys can be logged or printed by a
// failing test without leaking anything.
func (k Keys) String() string {
	return fmt.Sprintf("wxpayfake.Keys{MerchantSerialNo: %s, PlatformPublicKeyID: %s, MerchantKey: ***, PlatformKey: ***, APIv3Key: ***}",
		k.MerchantSerialNo, k.PlatformPublicKeyID)
}

// GoString masks the secrets for %#v as well.
func (k Keys) GoString() string { return k.String() }

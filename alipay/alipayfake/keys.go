package alipayfake

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Keys holds freshly generated key pairs for one sandbox or one test run:
// the app's pair (the merchant's) and the pair the fake uses as "Alipay".
// They live in memory only; nothing here is ever meant to be written to a
// repository. Print a Keys and the private halves are masked.
type Keys struct {
	// AppPrivateKey (PKCS#1 PEM) goes to alipay.Config.AppPrivateKey.
	AppPrivateKey string
	// AppPublicKey (PKIX PEM) goes to Config.AppPublicKey: the fake checks
	// request signatures with it.
	AppPublicKey string
	// AlipayPrivateKey (PKCS#8 PEM) goes to Config.AlipayPrivateKey: the
	// fake signs responses and notifications with it.
	AlipayPrivateKey string
	// AlipayPublicKey (PKIX PEM) goes to alipay.Config.AlipayPublicKey.
	AlipayPublicKey string
}

// String masks the private keys.
func (k Keys) String() string {
	return "alipayfake.Keys{AppPrivateKey:*** AppPublicKey:" + short(k.AppPublicKey) +
		" AlipayPrivateKey:*** AlipayPublicKey:" + short(k.AlipayPublicKey) + "}"
}

// GoString masks like String, for %#v.
func (k Keys) GoString() string { return k.String() }

func short(pemText string) string {
	body := strings.Join(strings.Fields(strings.NewReplacer(
		"-----BEGIN PUBLIC KEY-----", "", "-----END PUBLIC KEY-----", "").Replace(pemText)), "")
	if len(body) > 16 {
		return body[len(body)-16:]
	}
	return body
}

// NewKeys generates the two RSA-2048 key pairs. It takes a moment (two
// key generations): tests should share one Keys.
func NewKeys() (Keys, error) {
	app, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Keys{}, fmt.Errorf("alipayfake: app key: %w", err)
	}
	ali, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Keys{}, fmt.Errorf("alipayfake: alipay key: %w", err)
	}
	aliPriv, err := x509.MarshalPKCS8PrivateKey(ali)
	if err != nil {
		return Keys{}, fmt.Errorf("alipayfake: alipay key: %w", err)
	}
	appPub, err := x509.MarshalPKIXPublicKey(&app.PublicKey)
	if err != nil {
		return Keys{}, fmt.Errorf("alipayfake: app key: %w", err)
	}
	aliPub, err := x509.MarshalPKIXPublicKey(&ali.PublicKey)
	if err != nil {
		return Keys{}, fmt.Errorf("alipayfake: alipay key: %w", err)
	}
	return Keys{
		AppPrivateKey:    encodePEM("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(app)),
		AppPublicKey:     encodePEM("PUBLIC KEY", appPub),
		AlipayPrivateKey: encodePEM("PRIVATE KEY", aliPriv),
		AlipayPublicKey:  encodePEM("PUBLIC KEY", aliPub),
	}, nil
}

func encodePEM(kind string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}))
}

// parsePrivateKey accepts PEM or bare base64, PKCS#1 or PKCS#8, like the
// SDK. Errors never quote the key.
func parsePrivateKey(s string) (*rsa.PrivateKey, error) {
	der, err := keyBytes(s)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("not a PKCS#1 or PKCS#8 private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

// parsePublicKey accepts PEM or bare base64 PKIX.
func parsePublicKey(s string) (*rsa.PublicKey, error) {
	der, err := keyBytes(s)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("not a PKIX public key")
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

func keyBytes(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty")
	}
	if strings.HasPrefix(s, "-----") {
		block, _ := pem.Decode([]byte(s))
		if block == nil {
			return nil, errors.New("bad PEM")
		}
		return block.Bytes, nil
	}
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("neither PEM nor base64")
	}
	return der, nil
}

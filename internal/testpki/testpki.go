// Package testpki makes a throw-away certificate authority for tests: a
// CA, a server certificate for 127.0.0.1 and a client certificate, as PEM
// files in a test's temporary directory.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a CA and two certificates it signed, as files and as loaded values.
type PKI struct {
	CA                    string // the CA certificate (PEM file)
	ServerCert, ServerKey string // for 127.0.0.1
	ClientCert, ClientKey string // CommonName "till-1"

	Pool   *x509.CertPool  // holds the CA
	Client tls.Certificate // ClientCert with its key
}

// New makes a PKI valid for an hour.
func New(t testing.TB) PKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, caCert, caPEM := cert(t, "journey test CA", nil, nil)
	sk, _, sPEM := cert(t, "127.0.0.1", caKey, caCert)
	ck, _, cPEM := cert(t, "till-1", caKey, caCert)
	p := PKI{CA: write("ca.pem", caPEM),
		ServerCert: write("server.pem", sPEM), ServerKey: write("server-key.pem", keyPEM(t, sk)),
		ClientCert: write("client.pem", cPEM), ClientKey: write("client-key.pem", keyPEM(t, ck))}
	p.Pool = x509.NewCertPool()
	p.Pool.AppendCertsFromPEM(caPEM)
	var err error
	if p.Client, err = tls.LoadX509KeyPair(p.ClientCert, p.ClientKey); err != nil {
		t.Fatal(err)
	}
	return p
}

// cert makes a key and a certificate for name signed by parent, or a
// self-signed CA when parent is nil.
func cert(t testing.TB, name string, parentKey *ecdsa.PrivateKey, parent *x509.Certificate) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(t testing.TB, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

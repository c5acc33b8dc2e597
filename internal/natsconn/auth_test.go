package natsconn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// startServer starts a server with opts on a random loopback port.
func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", server.RANDOM_PORT, true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	return s
}

// roundTrip checks that nc can publish and receive.
func roundTrip(t *testing.T, nc *nats.Conn) {
	t.Helper()
	defer nc.Close()
	sub, err := nc.SubscribeSync("ping")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("ping", []byte("pong")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "pong" {
		t.Fatalf("round trip: %v %v", m, err)
	}
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// refused checks that Connect fails and says so with the server's words.
func refused(t *testing.T, c Client, want string) {
	t.Helper()
	nc, err := Connect(c)
	if err == nil {
		nc.Close()
		t.Fatalf("connected with %+v", c)
	}
	if !strings.Contains(strings.ToLower(err.Error()), want) || !strings.Contains(err.Error(), "connect to NATS at ") {
		t.Fatalf("error %q, want it to name the connection and say %q", err, want)
	}
}

func TestToken(t *testing.T) {
	s := startServer(t, &server.Options{Authorization: "t0ken"})
	nc, err := Connect(Client{URL: s.ClientURL(), Token: "t0ken"})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, nc)
	refused(t, Client{URL: s.ClientURL(), Token: "wrong"}, "authorization")
}

func TestNKeySeed(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	s := startServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	nc, err := Connect(Client{URL: s.ClientURL(), NKeySeedFile: writeFile(t, "user.nk", seed)})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, nc)

	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	refused(t, Client{URL: s.ClientURL(), NKeySeedFile: writeFile(t, "other.nk", otherSeed)}, "authorization")
	if _, err := Connect(Client{URL: s.ClientURL(), NKeySeedFile: filepath.Join(t.TempDir(), "missing.nk")}); err == nil ||
		!strings.Contains(err.Error(), "nkey seed") {
		t.Fatalf("missing seed file: %v", err)
	}
}

// TestCredsFile connects with a JWT + nkey creds file to a server in
// operator mode (the NGS / Synadia Cloud setup).
func TestCredsFile(t *testing.T) {
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	operator, _ := nkeys.CreateOperator()
	account, _ := nkeys.CreateAccount()
	opub := must(operator.PublicKey())
	apub := must(account.PublicKey())
	ojwt := must(jwt.NewOperatorClaims(opub).Encode(operator))
	ajwt := must(jwt.NewAccountClaims(apub).Encode(operator))
	oclaims, err := jwt.DecodeOperatorClaims(ojwt)
	if err != nil {
		t.Fatal(err)
	}
	resolver := &server.MemAccResolver{}
	if err := resolver.Store(apub, ajwt); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, &server.Options{TrustedOperators: []*jwt.OperatorClaims{oclaims}, AccountResolver: resolver})

	creds := func(signer nkeys.KeyPair) string {
		user, _ := nkeys.CreateUser()
		ujwt := must(jwt.NewUserClaims(must(user.PublicKey())).Encode(signer))
		seed, _ := user.Seed()
		b, err := jwt.FormatUserConfig(ujwt, seed)
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, "user.creds", b)
	}
	nc, err := Connect(Client{URL: s.ClientURL(), CredsFile: creds(account)})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, nc)
	stranger, _ := nkeys.CreateAccount() // an account the operator never signed
	refused(t, Client{URL: s.ClientURL(), CredsFile: creds(stranger)}, "authorization")
}

// TestMutualTLS connects over TLS with a CA bundle and a client
// certificate to a server that verifies both sides.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	caKey, caCert, caPEM := newCert(t, "journey test CA", nil, nil, true)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", caPEM)
	srvKey, _, srvPEM := newCert(t, "127.0.0.1", caKey, caCert, false)
	cliKey, _, cliPEM := newCert(t, "till-1", caKey, caCert, false)
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: write("server.pem", srvPEM), KeyFile: write("server-key.pem", keyPEM(t, srvKey)),
		CaFile: caFile, Verify: true, Timeout: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, &server.Options{TLS: true, TLSVerify: true, TLSConfig: tc, TLSTimeout: 2})
	certFile, keyFile := write("till.pem", cliPEM), write("till-key.pem", keyPEM(t, cliKey))

	nc, err := Connect(Client{URL: s.ClientURL(), TLSCA: caFile, TLSCert: certFile, TLSKey: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.TLSConnectionState(); err != nil {
		t.Fatalf("not a TLS connection: %v", err)
	}
	roundTrip(t, nc)
	// Without a client certificate the server refuses; without the CA the
	// client does not trust the server.
	if nc, err := Connect(Client{URL: s.ClientURL(), TLSCA: caFile}); err == nil {
		nc.Close()
		t.Fatal("connected without a client certificate")
	}
	if nc, err := Connect(Client{URL: s.ClientURL(), TLSCert: certFile, TLSKey: keyFile}); err == nil {
		nc.Close()
		t.Fatal("connected without trusting the server's CA")
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted server: %v, want a certificate error", err)
	}
}

// newCert makes an ECDSA key and a certificate for name, signed by
// (parentKey, parent), or self-signed when parent is nil.
func newCert(t *testing.T, name string, parentKey *ecdsa.PrivateKey, parent *x509.Certificate, ca bool) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

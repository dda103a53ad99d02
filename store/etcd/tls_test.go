package etcd_test

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

	"go.etcd.io/etcd/client/pkg/v3/transport"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/etcd"
	"github.com/convergehq/converge/store/etcd/etcdtest"
)

// TestTLS runs an etcd that takes only clients with a certificate of its
// CA: a store opened with TLSConfig of that CA and a client certificate
// works, one without the client certificate is refused.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, dir, "ca", nil, nil)
	newCert(t, dir, "server", ca, caKey)
	newCert(t, dir, "client", ca, caKey)
	file := func(name string) string { return filepath.Join(dir, name) }
	e, err := etcdtest.Start(filepath.Join(dir, "etcd"), &transport.TLSInfo{
		CertFile: file("server.pem"), KeyFile: file("server-key.pem"),
		TrustedCAFile: file("ca.pem"), ClientCertAuth: true,
	})
	if err != nil {
		t.Fatalf("start etcd with TLS: %v", err)
	}
	t.Cleanup(func() {
		e.Close()
		<-e.Err()
	})
	ep := "https://" + e.Clients[0].Addr().String()

	cfg, err := etcd.TLSConfig(file("ca.pem"), file("client.pem"), file("client-key.pem"))
	if err != nil {
		t.Fatalf("TLSConfig: %v", err)
	}
	s, err := etcd.Open(t.Context(), etcd.Config{Endpoints: []string{ep}, TLS: cfg, Prefix: etcdtest.Prefix(t)})
	if err != nil {
		t.Fatalf("Open over TLS: %v", err)
	}
	defer s.Close()
	if err := s.PutRecord(t.Context(), store.Record{ID: "a.A/1"}); err != nil {
		t.Errorf("PutRecord over TLS: %v", err)
	}

	noCert, err := etcd.TLSConfig(file("ca.pem"), "", "")
	if err != nil {
		t.Fatalf("TLSConfig(CA only): %v", err)
	}
	if s, err := etcd.Open(t.Context(), etcd.Config{Endpoints: []string{ep}, TLS: noCert, DialTimeout: time.Second}); err == nil {
		s.Close()
		t.Errorf("Open without a client certificate = nil error; want etcd to refuse it")
	} else if !strings.Contains(err.Error(), ep) {
		t.Errorf("Open without a client certificate = %v; want the error to name %s", err, ep)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name                string
		ca, cert, key, want string
	}{
		{"missing CA", filepath.Join(dir, "missing.pem"), "", "", "missing.pem"},
		{"CA not PEM", notPEM, "", "", "no PEM certificate"},
		{"cert without key", "", notPEM, "", "give both or neither"},
		{"bad pair", "", notPEM, notPEM, "client certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := etcd.TLSConfig(tt.ca, tt.cert, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("TLSConfig(%q, %q, %q) = %v; want an error naming %q", tt.ca, tt.cert, tt.key, err, tt.want)
			}
		})
	}
	if cfg, err := etcd.TLSConfig("", "", ""); err != nil || cfg.RootCAs != nil || len(cfg.Certificates) != 0 {
		t.Errorf("TLSConfig() = %+v, %v; want the system's CAs and no client certificate", cfg, err)
	}
}

// newCert writes name.pem and name-key.pem in dir: a CA when parent is
// nil, else a certificate for 127.0.0.1 signed by parent, for servers and
// clients.
func newCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

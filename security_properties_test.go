package kastor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kastor-go/kastor/sasl"
)

const propsPassword = "pr0ps-Pa55word-secret"

// writePEMs writes a self-signed CA certificate, a client certificate and its key to dir.
func writePEMs(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", der), write("cert.pem", "CERTIFICATE", der), write("key.pem", "PRIVATE KEY", keyDER)
}

func TestSecurityFromProperties(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writePEMs(t, dir)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	plainJAAS := `org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="` + propsPassword + `";`
	scramJAAS := `org.apache.kafka.common.security.scram.ScramLoginModule required
		username="alice"
		password="` + propsPassword + `";`
	tests := []struct {
		name      string
		props     map[string]string
		tls       bool
		clientTLS bool
		mech      sasl.Mechanism
		used      []string
		err       string // substring of the error; "" for none
	}{
		{name: "empty", props: map[string]string{}, used: nil},
		{name: "plaintext ignores ssl keys", props: map[string]string{"security.protocol": "PLAINTEXT", "ssl.ca.location": ca},
			used: []string{"security.protocol"}},
		{name: "ssl with CA", props: map[string]string{"security.protocol": "SSL", "ssl.ca.location": ca},
			tls: true, used: []string{"security.protocol", "ssl.ca.location"}},
		{name: "mutual tls", props: map[string]string{"security.protocol": "ssl", "ssl.certificate.location": cert, "ssl.key.location": key},
			tls: true, clientTLS: true, used: []string{"security.protocol", "ssl.certificate.location", "ssl.key.location"}},
		{name: "sasl_ssl scram-512 via jaas", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
			"sasl.jaas.config": scramJAAS, "ssl.ca.location": ca},
			tls: true, mech: sasl.ScramSHA512{User: "alice", Pass: propsPassword},
			used: []string{"sasl.jaas.config", "sasl.mechanism", "security.protocol", "ssl.ca.location"}},
		{name: "sasl_plaintext plain via jaas", props: map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.jaas.config": plainJAAS},
			mech: sasl.Plain{User: "alice", Pass: propsPassword}, used: []string{"sasl.jaas.config", "sasl.mechanism", "security.protocol"}},
		{name: "librdkafka username and password", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256",
			"sasl.username": "alice", "sasl.password": propsPassword},
			tls: true, mech: sasl.ScramSHA256{User: "alice", Pass: propsPassword}, used: []string{"sasl.mechanism", "sasl.password", "sasl.username", "security.protocol"}},
		{name: "jaas with escapes", props: map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
			"sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username=alice password="a\"b\\c";`},
			mech: sasl.Plain{User: "alice", Pass: `a"b\c`}, used: []string{"sasl.jaas.config", "sasl.mechanism", "security.protocol"}},

		{name: "unknown protocol", props: map[string]string{"security.protocol": "TLS"}, err: "security.protocol"},
		{name: "default mechanism GSSAPI", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.jaas.config": plainJAAS}, err: "GSSAPI"},
		{name: "oauthbearer needs code", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER"}, err: "sasl.OAuthBearer"},
		{name: "no credentials", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"}, err: "needs sasl.jaas.config"},
		{name: "jaas and username", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.jaas.config": plainJAAS, "sasl.username": "a"}, err: "not both"},
		{name: "module mismatch", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256", "sasl.jaas.config": plainJAAS}, err: "PlainLoginModule"},
		{name: "jaas without semicolon", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
			"sasl.jaas.config": strings.TrimSuffix(plainJAAS, ";")}, err: "';'"},
		{name: "jaas unclosed quote", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
			"sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="` + propsPassword}, err: "closing quote"},
		{name: "jaas no flag", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
			"sasl.jaas.config": `password="` + propsPassword + `";`}, err: "required"},
		{name: "jaas password as class", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
			"sasl.jaas.config": propsPassword + `" required username="alice";`}, err: "unexpected login module"},
		{name: "missing ca file", props: map[string]string{"security.protocol": "SSL", "ssl.ca.location": filepath.Join(dir, "nope.pem")}, err: "ssl.ca.location"},
		{name: "ca not pem", props: map[string]string{"security.protocol": "SSL", "ssl.ca.location": garbage}, err: "no PEM certificate"},
		{name: "cert without key", props: map[string]string{"security.protocol": "SSL", "ssl.certificate.location": cert}, err: "set both"},
		{name: "key not matching", props: map[string]string{"security.protocol": "SSL", "ssl.certificate.location": cert, "ssl.key.location": garbage}, err: "ssl.key.location"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tlsCfg, mech, used, err := securityFromProperties(tc.props)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want an ErrInvalidConfig containing %q, got %v", tc.err, err)
				}
				if strings.Contains(err.Error(), propsPassword) {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tlsCfg != nil) != tc.tls {
				t.Fatalf("TLS %v, want %v", tlsCfg != nil, tc.tls)
			}
			if tc.tls && tc.props["ssl.ca.location"] != "" && tlsCfg.RootCAs == nil {
				t.Fatal("no RootCAs from ssl.ca.location")
			}
			if tc.clientTLS && len(tlsCfg.Certificates) != 1 {
				t.Fatal("no client certificate")
			}
			if !reflect.DeepEqual(mech, tc.mech) {
				t.Fatalf("mechanism %v, want %v", mech, tc.mech)
			}
			slices.Sort(used)
			if !slices.Equal(used, tc.used) {
				t.Fatalf("keys used %v, want %v", used, tc.used)
			}
		})
	}
}

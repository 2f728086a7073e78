package tests

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/sasl"
)

// testPKI is a certificate authority made for one test, a server certificate for 127.0.0.1 and a
// client certificate, both signed by it.
type testPKI struct {
	pool   *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

func newPKI(t *testing.T) testPKI {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kastor test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) tls.Certificate {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{pool: pool, server: leaf(2, "broker", x509.ExtKeyUsageServerAuth), client: leaf(3, "client", x509.ExtKeyUsageClientAuth)}
}

// produceSecured sends n records to topic (2 partitions) and checks, against what a kgo client
// with readOpts reads back, that each arrived exactly once, in order, at the offset its callback
// reported.
func produceSecured(t *testing.T, c *kfake.Cluster, p *kastor.Producer, topic string, n int, readOpts ...kgo.Opt) {
	t.Helper()
	ctx := context.Background()
	comp := newCompletions()
	for i := 0; i < n; i++ {
		p.SendAsync(ctx, &kastor.Record{Topic: topic, Key: []byte(strconv.Itoa(i % 7)), Value: value(i)}, comp.callback(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	comp.wait(t, time.Minute)
	for i, r := range comp.results {
		if r.err != nil {
			t.Fatalf("record %d: %v", i, r.err)
		}
	}
	seen := 0
	for part, recs := range consumeAll(t, c, topic, readOpts...) {
		last := -1
		for _, r := range recs {
			i, err := strconv.Atoi(strings.TrimPrefix(string(r.Value), "record-"))
			if err != nil {
				t.Fatalf("unexpected value %q", r.Value)
			}
			if i <= last {
				t.Fatalf("partition %d: record %d after %d", part, i, last)
			}
			last = i
			if md := comp.results[i].md; md.Partition != part || md.Offset != r.Offset {
				t.Fatalf("record %d read at %d/%d, acknowledged at %d/%d", i, part, r.Offset, md.Partition, md.Offset)
			}
			seen++
		}
	}
	if seen != n {
		t.Fatalf("read back %d records, sent %d", seen, n)
	}
}

// sendFails sends one record with a short MaxBlock and returns its error, which must come within
// the test's bound (no hang).
func sendFails(t *testing.T, p *kastor.Producer, topic string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := p.Send(ctx, &kastor.Record{Topic: topic, Value: []byte("x")})
	if err == nil {
		t.Fatal("send succeeded")
	}
	if ctx.Err() != nil {
		t.Fatalf("send did not fail within MaxBlock: %v", err)
	}
	t.Logf("send failed as expected: %v", err)
	return err
}

func TestTLSProduce(t *testing.T) {
	pki := newPKI(t)
	c := newCluster(t, kfake.NumBrokers(2), kfake.SeedTopics(2, "tls"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.server}}))
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.TLS = &tls.Config{RootCAs: pki.pool} // ServerName comes from the broker address
	})
	produceSecured(t, c, p, "tls", 300, kgo.DialTLSConfig(&tls.Config{RootCAs: pki.pool}))
}

func TestMutualTLS(t *testing.T) {
	pki := newPKI(t)
	c := newCluster(t, kfake.SeedTopics(2, "mtls"), kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{pki.server},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pki.pool,
	}))
	t.Run("with client certificate", func(t *testing.T) {
		p := newProducer(t, c, func(cfg *kastor.Config) {
			cfg.TLS = &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}}
		})
		produceSecured(t, c, p, "mtls", 100,
			kgo.DialTLSConfig(&tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}}))
	})
	t.Run("without client certificate", func(t *testing.T) {
		p := newProducer(t, c, func(cfg *kastor.Config) {
			cfg.TLS = &tls.Config{RootCAs: pki.pool}
			cfg.MaxBlock = time.Second
			cfg.Logger = discardLogger()
		})
		err := sendFails(t, p, "mtls")
		if !errors.Is(err, kastor.ErrAuthentication) || !strings.Contains(err.Error(), c.ListenAddrs()[0]) ||
			!strings.Contains(err.Error(), "certificate") {
			t.Fatalf("want an authentication error naming the broker and the certificate, got: %v", err)
		}
	})
}

func TestTLSMisconfigured(t *testing.T) {
	pki := newPKI(t)
	c := newCluster(t, kfake.SeedTopics(1, "t"), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.server}}))
	t.Run("plaintext client", func(t *testing.T) {
		p := newProducer(t, c, func(cfg *kastor.Config) {
			cfg.MaxBlock = time.Second
			cfg.Logger = discardLogger()
		})
		err := sendFails(t, p, "t")
		if !errors.Is(err, kastor.ErrConnection) || !strings.Contains(err.Error(), c.ListenAddrs()[0]) ||
			!strings.Contains(err.Error(), "set Config.TLS") {
			t.Fatalf("want an error naming the broker and suggesting TLS, got: %v", err)
		}
	})
	t.Run("unknown certificate authority", func(t *testing.T) {
		p := newProducer(t, c, func(cfg *kastor.Config) {
			cfg.TLS = &tls.Config{} // system roots: the test CA is not among them
			cfg.MaxBlock = time.Second
			cfg.Logger = discardLogger()
		})
		err := sendFails(t, p, "t")
		if !errors.Is(err, kastor.ErrAuthentication) || !strings.Contains(err.Error(), "TLS handshake with "+c.ListenAddrs()[0]) {
			t.Fatalf("want a TLS handshake error naming the broker, got: %v", err)
		}
	})
}

// saslCase is one mechanism as kastor and kgo each spell it.
type saslCase struct {
	name   string
	method string // kfake's name
	mech   func(user, pass string) sasl.Mechanism
	kgo    func(user, pass string) kgo.Opt
}

var saslCases = []saslCase{
	{"PLAIN", "PLAIN",
		func(u, p string) sasl.Mechanism { return sasl.Plain{User: u, Pass: p} },
		func(u, p string) kgo.Opt { return kgo.SASL(plain.Auth{User: u, Pass: p}.AsMechanism()) }},
	{"SCRAM-SHA-256", "SCRAM-SHA-256",
		func(u, p string) sasl.Mechanism { return sasl.ScramSHA256{User: u, Pass: p} },
		func(u, p string) kgo.Opt { return kgo.SASL(scram.Auth{User: u, Pass: p}.AsSha256Mechanism()) }},
	{"SCRAM-SHA-512", "SCRAM-SHA-512",
		func(u, p string) sasl.Mechanism { return sasl.ScramSHA512{User: u, Pass: p} },
		func(u, p string) kgo.Opt { return kgo.SASL(scram.Auth{User: u, Pass: p}.AsSha512Mechanism()) }},
}

const (
	saslUser     = "alice"
	saslPassword = "s3cret-Pa55word-never-printed"
)

func TestSASL(t *testing.T) {
	pki := newPKI(t)
	for _, tc := range saslCases {
		for _, overTLS := range []bool{false, true} {
			name := tc.name
			if overTLS {
				name += " over TLS"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel() // each has its own cluster; most of the time is the 1s MaxBlock wait
				opts := []kfake.Opt{kfake.NumBrokers(2), kfake.SeedTopics(2, "sasl"), kfake.EnableSASL(),
					kfake.Superuser(tc.method, saslUser, saslPassword)}
				readOpts := []kgo.Opt{tc.kgo(saslUser, saslPassword)}
				var clientTLS *tls.Config
				if overTLS {
					opts = append(opts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.server}}))
					clientTLS = &tls.Config{RootCAs: pki.pool}
					readOpts = append(readOpts, kgo.DialTLSConfig(clientTLS))
				}
				c := newCluster(t, opts...)
				p := newProducer(t, c, func(cfg *kastor.Config) {
					cfg.TLS = clientTLS
					cfg.SASL = tc.mech(saslUser, saslPassword)
				})
				produceSecured(t, c, p, "sasl", 200, readOpts...)

				bad := newProducer(t, c, func(cfg *kastor.Config) {
					cfg.TLS = clientTLS
					cfg.SASL = tc.mech(saslUser, "wrong-"+saslPassword)
					cfg.MaxBlock = time.Second
					cfg.Logger = discardLogger()
				})
				err := sendFails(t, bad, "sasl")
				if !errors.Is(err, kastor.ErrAuthentication) || !strings.Contains(err.Error(), "SASL "+tc.name) {
					t.Fatalf("want ErrAuthentication naming %s, got: %v", tc.name, err)
				}
				if strings.Contains(err.Error(), saslPassword) {
					t.Fatalf("the error shows the password: %v", err)
				}
				// Metrics: refused logins count as authentication failures, not connections.
				if st := bad.Stats(); st.AuthenticationFailures == 0 || st.ConnectionCreations != 0 || st.Connections != 0 {
					t.Fatalf("refused login: %d authentication failures, %d connections created", st.AuthenticationFailures, st.ConnectionCreations)
				}
				if st := p.Stats(); st.AuthenticationFailures != 0 || st.ConnectionCreations == 0 {
					t.Fatalf("accepted login: %d authentication failures, %d connections created", st.AuthenticationFailures, st.ConnectionCreations)
				}
			})
		}
	}
}

// unknownMechanism is a user-supplied sasl.Mechanism the broker does not enable.
type unknownMechanism struct{}

func (unknownMechanism) Name() string { return "KASTOR-TEST" }
func (unknownMechanism) Authenticate(context.Context, string) (sasl.Session, []byte, error) {
	return nil, nil, errors.New("never called: the broker rejects the mechanism first")
}

// TestSASLUnsupportedMechanism: a mechanism the broker does not enable is an authentication error
// that lists what it does enable.
func TestSASLUnsupportedMechanism(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "t"), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", saslUser, saslPassword))
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.SASL = unknownMechanism{}
		cfg.MaxBlock = time.Second
		cfg.Logger = discardLogger()
	})
	err := sendFails(t, p, "t")
	if !errors.Is(err, kastor.ErrAuthentication) || !strings.Contains(err.Error(), "KASTOR-TEST") ||
		!strings.Contains(err.Error(), "SCRAM-SHA-256") {
		t.Fatalf("want ErrAuthentication naming KASTOR-TEST and the broker's mechanisms, got: %v", err)
	}
}

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSecretsNeverLeak: with every log at debug level captured, a successful login, a rejected one
// (over plaintext and TLS, each mechanism) and the printed Config show no password anywhere.
func TestSecretsNeverLeak(t *testing.T) {
	pki := newPKI(t)
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var texts []string
	for _, tc := range saslCases {
		c := newCluster(t, kfake.SeedTopics(1, "leak"), kfake.EnableSASL(), kfake.Superuser(tc.method, saslUser, saslPassword),
			kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.server}}))
		for _, pass := range []string{saslPassword, "wrong-" + saslPassword} {
			cfg := kastor.DefaultConfig()
			cfg.BootstrapServers = c.ListenAddrs()
			cfg.Logger = logger
			cfg.MaxBlock = time.Second
			cfg.TLS = &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}}
			cfg.SASL = tc.mech(saslUser, pass)
			texts = append(texts, fmt.Sprintf("%+v", cfg), fmt.Sprintf("%v", cfg), fmt.Sprintf("%#v", cfg),
				fmt.Sprintf("%+v", &cfg), fmt.Sprintf("%s", cfg.SASL))
			logger.Debug("config", "cfg", cfg, "sasl", cfg.SASL) // what a user might log
			p, err := kastor.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err = p.Send(ctx, &kastor.Record{Topic: "leak", Value: []byte("v")})
			cancel()
			if pass == saslPassword && err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if pass != saslPassword && !errors.Is(err, kastor.ErrAuthentication) {
				t.Fatalf("%s with a wrong password: want ErrAuthentication, got %v", tc.name, err)
			}
			if err != nil {
				texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
			}
			closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			p.Close(closeCtx)
			cancel()
		}
	}
	texts = append(texts, logs.String())
	if !strings.Contains(logs.String(), "authentication failed") {
		t.Fatal("the debug log shows no failed login: the scan would prove nothing")
	}
	for _, s := range texts {
		if strings.Contains(s, saslPassword) {
			t.Fatalf("a password leaked into: %s", s)
		}
	}
}

// sendAcrossSessions sends rounds × perRound records (nkeys distinct keys), a round
// every 100 ms, so the traffic spans several broker sessions (their lifetime is the broker's wall
// clock), then waits for every record and fails on any error.
func sendAcrossSessions(t *testing.T, p *kastor.Producer, topic string, rounds, perRound, nkeys int) {
	t.Helper()
	comp := newCompletions()
	for r := 0; r < rounds; r++ {
		for i := r * perRound; i < (r+1)*perRound; i++ {
			p.SendAsync(context.Background(), &kastor.Record{Topic: topic, Key: []byte(strconv.Itoa(i % nkeys)), Value: value(i)}, comp.callback(i))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	comp.wait(t, time.Minute)
	for i, r := range comp.results {
		if r.err != nil {
			t.Fatalf("record %d: %v", i, r.err)
		}
	}
}

// TestSASLReauthentication (KIP-368): kfake grants 400ms sessions; while records flow for several
// sessions, every connection logs in again on its socket, and every record still completes once,
// in order.
func TestSASLReauthentication(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "reauth"), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", saslUser, saslPassword),
		kfake.BrokerConfigs(map[string]string{"connections.max.reauth.ms": "400"}))
	var handshakes atomic.Int32
	c.ControlKey(int16(kmsg.SASLHandshake), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		handshakes.Add(1)
		return nil, nil, false
	})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.SASL = sasl.ScramSHA256{User: saslUser, Pass: saslPassword}
	})
	const rounds, perRound = 16, 50
	sendAcrossSessions(t, p, "reauth", rounds, perRound, 7)
	// Two connections (metadata, produce) over 1.6s of 400ms sessions: each logs in again about
	// every 360ms.
	t.Logf("%d SASL handshakes", handshakes.Load())
	if n := handshakes.Load(); n < 6 {
		t.Fatalf("%d SASL handshakes: the connections did not re-authenticate", n)
	}
	_, written := readLog(t, c, "reauth", true, kgo.SASL(scram.Auth{User: saslUser, Pass: saslPassword}.AsSha256Mechanism())) // in send order per partition
	seen := 0
	for _, n := range written {
		seen += n
	}
	if seen != rounds*perRound {
		t.Fatalf("read back %d records, sent %d", seen, rounds*perRound)
	}
}

// TestSASLRejectedBackoff: a rejected login is retried with the reconnect backoff (50ms doubling to
// 1s), not in a tight loop: a few attempts over 2s, where a loop would make hundreds.
func TestSASLRejectedBackoff(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "t"), kfake.EnableSASL(), kfake.Superuser("PLAIN", saslUser, saslPassword))
	var handshakes atomic.Int32
	c.ControlKey(int16(kmsg.SASLHandshake), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		handshakes.Add(1)
		return nil, nil, false
	})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.SASL = sasl.Plain{User: saslUser, Pass: "wrong"}
		cfg.MaxBlock = 2 * time.Second
		cfg.Logger = discardLogger()
	})
	if err := sendFails(t, p, "t"); !errors.Is(err, kastor.ErrAuthentication) {
		t.Fatalf("want ErrAuthentication, got %v", err)
	}
	if n := handshakes.Load(); n < 2 || n > 15 {
		t.Fatalf("%d login attempts in 2s: want a few, retried with backoff", n)
	}
}

// TestSASLRejectedAfterAccept: the metadata connection logs in, the produce connection is refused
// (the broker rejects every later login): the accepted record fails at its delivery timeout with
// an error that wraps both ErrDeliveryTimeout and ErrAuthentication.
func TestSASLRejectedAfterAccept(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "t"), kfake.EnableSASL(), kfake.Superuser("PLAIN", saslUser, saslPassword))
	var logins atomic.Int32
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if logins.Add(1) == 1 {
			return nil, nil, false
		}
		resp := r.(*kmsg.SASLAuthenticateRequest).ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = 58 // SASL_AUTHENTICATION_FAILED
		return resp, nil, true
	})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.SASL = sasl.Plain{User: saslUser, Pass: saslPassword}
		cfg.RequestTimeout = time.Second
		cfg.DeliveryTimeout = 2 * time.Second
		cfg.Logger = discardLogger()
	})
	err := sendFails(t, p, "t")
	if !errors.Is(err, kastor.ErrDeliveryTimeout) || !errors.Is(err, kastor.ErrAuthentication) || !strings.Contains(err.Error(), "SASL PLAIN") {
		t.Fatalf("want ErrDeliveryTimeout wrapping ErrAuthentication for PLAIN, got: %v", err)
	}
}

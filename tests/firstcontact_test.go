package tests

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/wire"
)

// captured keeps every log record at Warn or above, for tests that check what a user would see.
type captured struct {
	mu    sync.Mutex
	lines []string
}

func (c *captured) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (c *captured) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	c.mu.Lock()
	c.lines = append(c.lines, b.String())
	c.mu.Unlock()
	return nil
}
func (c *captured) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *captured) WithGroup(string) slog.Handler      { return c }

// warned returns the first captured Warn line that contains every one of parts.
func (c *captured) warned(parts ...string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
next:
	for _, l := range c.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		return l, true
	}
	return "", false
}

func (c *captured) count(part string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.lines {
		if strings.Contains(l, part) {
			n++
		}
	}
	return n
}

const firstContactMaxBlock = 1500 * time.Millisecond

// sendWithin sends one record with MaxBlock firstContactMaxBlock to bootstrap and returns its
// error, failing the test if Send takes longer than the bound allows.
func sendWithin(t *testing.T, bootstrap []string, logs *captured, rec *kastor.Record, mutate func(*kastor.Config)) error {
	t.Helper()
	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = bootstrap
	cfg.MaxBlock = firstContactMaxBlock
	cfg.Logger = slog.New(logs)
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := kastor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	// The bound: MaxBlock plus slack for a loaded machine; the context only stops a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = p.Send(ctx, rec)
	if ctx.Err() != nil {
		t.Fatalf("Send did not return within MaxBlock (%v): %v", firstContactMaxBlock, err)
	}
	if err == nil {
		t.Fatal("Send succeeded")
	}
	return err
}

func TestUnreachableBootstrapSaysWhy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	logs := &captured{}
	err = sendWithin(t, []string{addr}, logs, &kastor.Record{Topic: "t", Value: []byte("v")}, nil)
	if !errors.Is(err, kastor.ErrTimeout) || !errors.Is(err, kastor.ErrConnection) {
		t.Fatalf("error %q is not ErrTimeout wrapping ErrConnection", err)
	}
	if !strings.Contains(err.Error(), "no broker reachable: tried "+addr) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("error %q does not name the address and the dial error", err)
	}
	if _, ok := logs.warned("WARN", "broker connection failed", addr); !ok {
		t.Fatalf("no Warn line for the failed connection; captured %q", logs.lines)
	}
	// Rate-limited: one line per broker per backoff cycle (ReconnectBackoffMax, 1 s), though the
	// metadata actor redials every few hundred milliseconds.
	if n := logs.count("broker connection failed"); n > 2 {
		t.Fatalf("%d Warn lines for one broker within %v: %q", n, firstContactMaxBlock, logs.lines)
	}
}

// A plaintext client against a TLS listener: the broker answers the ApiVersions request with a TLS
// alert, which the error must name.
func TestPlaintextAgainstTLSSaysWhy(t *testing.T) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.(*tls.Conn).Handshake() // fails on the plaintext request, answering with an alert
				c.Close()
			}()
		}
	}()
	defer wg.Wait()
	defer ln.Close()
	addr := ln.Addr().String()
	logs := &captured{}
	err = sendWithin(t, []string{addr}, logs, &kastor.Record{Topic: "t", Value: []byte("v")}, nil)
	if !errors.Is(err, kastor.ErrTimeout) || !errors.Is(err, kastor.ErrConnection) {
		t.Fatalf("error %q is not ErrTimeout wrapping ErrConnection", err)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("error %q does not name the address and the likely cause", err)
	}
	if _, ok := logs.warned("WARN", "broker connection failed", addr); !ok {
		t.Fatalf("no Warn line for the failed connection; captured %q", logs.lines)
	}
}

func TestMistypedTopicSaysWhy(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
	logs := &captured{}
	err := sendWithin(t, c.ListenAddrs(), logs, &kastor.Record{Topic: "ordres", Value: []byte("v")}, nil)
	if !errors.Is(err, kastor.ErrTimeout) || !errors.Is(err, kastor.ErrUnknownTopicOrPartition) || !errors.Is(err, wire.ErrUnknownTopicOrPartition) {
		t.Fatalf("error %q is not ErrTimeout wrapping UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	if !strings.Contains(err.Error(), "ordres") {
		t.Fatalf("error %q does not name the topic", err)
	}
	if _, ok := logs.warned("WARN", "ordres", "UNKNOWN_TOPIC_OR_PARTITION"); !ok {
		t.Fatalf("no Warn line for the unknown topic; captured %q", logs.lines)
	}
}

// A partition the topic does not have, on metadata fetched for the send: ErrInvalidRecord without
// waiting MaxBlock (here a minute, beyond the test's bound).
func TestPartitionOutOfRangeFailsAtOnce(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(4, "t"))
	logs := &captured{}
	err := sendWithin(t, c.ListenAddrs(), logs, &kastor.Record{Topic: "t", Partition: kastor.PartitionOf(99), Value: []byte("v")},
		func(cfg *kastor.Config) { cfg.MaxBlock = time.Minute })
	if !errors.Is(err, kastor.ErrInvalidRecord) || !strings.Contains(err.Error(), "partition 99") || !strings.Contains(err.Error(), "4 partitions") {
		t.Fatalf("error %q is not ErrInvalidRecord naming partition 99 of 4", err)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A metadata wait ended by the caller's context (MaxBlock is longer) names the cause too.
func TestUnreachableBootstrapContextSaysWhy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = []string{addr}
	cfg.Logger = slog.New(&captured{})
	p, err := kastor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = p.Send(ctx, &kastor.Record{Topic: "t", Value: []byte("v")})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, kastor.ErrConnection) || !strings.Contains(err.Error(), "no broker reachable: tried "+addr) {
		t.Fatalf("error %q does not wrap the context's end and the dial error", err)
	}
}

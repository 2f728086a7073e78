package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"

	"github.com/kastor-go/kastor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	if err := run("", "quickstart", 500, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// With nothing listening, the first failure ends the run after MaxBlock with one line saying why.
func TestFirstFailureEndsTheRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- run(addr, "quickstart", 10_000, 500*time.Millisecond) }()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second): // 10,000 records each waiting MaxBlock would take 80 min
		t.Fatal("the run did not end after its first failure")
	}
	if !errors.Is(err, kastor.ErrTimeout) || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("run ended with %q, want one line naming the timeout and the address", err)
	}
}

// A Java properties file with SASL/SCRAM settings: produced and read back over the login.
func TestRunWithSecurityProperties(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "secure"), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "alice", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	path := filepath.Join(t.TempDir(), "client.properties")
	props := "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n" +
		"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"s3cret\";\n"
	if err := os.WriteFile(path, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := kastor.LoadProperties(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := runWith(cfg, c.ListenAddrs()[0], "secure", 300, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

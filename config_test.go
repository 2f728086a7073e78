package kastor

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// The documented defaults (Java 4.0's) are what DefaultConfig returns.
func TestDefaultConfigIsJavas(t *testing.T) {
	c := DefaultConfig()
	checks := []struct {
		name      string
		got, want any
	}{
		{"Acks", c.Acks, AcksAll},
		{"EnableIdempotence", c.EnableIdempotence, true},
		{"BatchSize", c.BatchSize, 16384},
		{"Linger", c.Linger, 5 * time.Millisecond},
		{"BufferMemory", c.BufferMemory, int64(32 << 20)},
		{"MaxBlock", c.MaxBlock, 60 * time.Second},
		{"MaxRequestSize", c.MaxRequestSize, 1 << 20},
		{"Compression", c.Compression, CompressionNone},
		{"RequestTimeout", c.RequestTimeout, 30 * time.Second},
		{"DeliveryTimeout", c.DeliveryTimeout, 120 * time.Second},
		{"Retries", c.Retries, math.MaxInt32},
		{"RetryBackoff", c.RetryBackoff, 100 * time.Millisecond},
		{"RetryBackoffMax", c.RetryBackoffMax, time.Second},
		{"MaxInFlightRequestsPerConnection", c.MaxInFlightRequestsPerConnection, 5},
		{"MetadataMaxAge", c.MetadataMaxAge, 5 * time.Minute},
		{"ConnectionsMaxIdle", c.ConnectionsMaxIdle, 9 * time.Minute},
		{"ReconnectBackoff", c.ReconnectBackoff, 50 * time.Millisecond},
		{"ReconnectBackoffMax", c.ReconnectBackoffMax, time.Second},
		{"SocketConnectionSetupTimeout", c.SocketConnectionSetupTimeout, 10 * time.Second},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	c.BootstrapServers = []string{"127.0.0.1:9092"}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults plus bootstrap servers: %v", err)
	}
}

func TestValidateNamesEveryBadField(t *testing.T) {
	var zero Config
	if err := zero.Validate(); err == nil || !strings.Contains(err.Error(), "DefaultConfig") {
		t.Fatalf("zero Config: %v", err)
	}
	c := DefaultConfig()
	c.BootstrapServers = []string{"no-port"}
	c.Acks = 2
	c.BatchSize = 0
	c.Linger = -1
	c.BufferMemory = 0
	c.MaxRequestSize = 0
	c.Compression = CompressionGzip
	c.CompressionLevel = 42
	c.DeliveryTimeout = time.Second
	c.Retries = -1
	c.RetryBackoffMax = time.Millisecond
	c.MaxInFlightRequestsPerConnection = 0
	err := c.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v", err)
	}
	for _, field := range []string{"BootstrapServers", "Acks", "BatchSize", "Linger", "BufferMemory", "MaxRequestSize",
		"CompressionLevel", "DeliveryTimeout", "Retries", "RetryBackoffMax", "MaxInFlightRequestsPerConnection"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
	if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New accepted an invalid config: %v", err)
	}
}

// Idempotence (the default) needs acks=all, at most 5 requests in flight and retries; breaking one
// of these while it is on is an error that names the field and the way out.
func TestValidateIdempotenceRequirements(t *testing.T) {
	base := DefaultConfig()
	base.BootstrapServers = []string{"127.0.0.1:9092"}
	cases := []struct {
		field  string
		change func(*Config)
	}{
		{"Acks", func(c *Config) { c.Acks = AcksLeader }},
		{"Acks", func(c *Config) { c.Acks = AcksNone }},
		{"MaxInFlightRequestsPerConnection", func(c *Config) { c.MaxInFlightRequestsPerConnection = 6 }},
		{"Retries", func(c *Config) { c.Retries = 0 }},
	}
	for _, tc := range cases {
		c := base
		tc.change(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "EnableIdempotence") {
			t.Errorf("%s: got %v, want an error naming %s and EnableIdempotence", tc.field, err, tc.field)
		}
		c.EnableIdempotence = false
		if err := c.Validate(); err != nil {
			t.Errorf("%s with EnableIdempotence = false: %v", tc.field, err)
		}
	}
}

func TestValidateTransactional(t *testing.T) {
	base := DefaultConfig()
	base.BootstrapServers = []string{"127.0.0.1:9092"}
	base.TransactionalID = "copier"
	if err := base.Validate(); err != nil {
		t.Fatalf("a transactional config with the defaults: %v", err)
	}
	cases := []struct {
		field  string
		change func(*Config)
	}{
		{"EnableIdempotence must be true with a TransactionalID", func(c *Config) { c.EnableIdempotence = false }},
		{"TransactionTimeout", func(c *Config) { c.TransactionTimeout = 0 }},
		{"TransactionTimeout", func(c *Config) { c.TransactionTimeout = 1 << 62 }},
	}
	for _, tc := range cases {
		c := base
		tc.change(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	// Without a transactional id the timeout is not used.
	c := base
	c.TransactionalID, c.TransactionTimeout = "", 0
	if err := c.Validate(); err != nil {
		t.Errorf("TransactionTimeout 0 without a TransactionalID: %v", err)
	}
}

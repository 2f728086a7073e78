package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/sasl"
)

func TestPropertiesFileThenFlagsOverride(t *testing.T) {
	path := filepath.Join(t.TempDir(), "producer.properties")
	text := "# comment\n! also a comment\nlinger.ms = 20\nacks:1\ncompression.type \\\n  zstd\nbootstrap.servers=a:1, b:2\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	props, err := readProperties(path)
	if err != nil {
		t.Fatal(err)
	}
	var flags propList
	for _, kv := range []string{"linger.ms=0", "enable.idempotence=FALSE", "max.block.ms=9223372036854775807"} {
		if err := flags.Set(kv); err != nil {
			t.Fatal(err)
		}
	}
	cfg := kastor.DefaultConfig()
	if unknown, err := applyProps(&cfg, append(props, flags...)); err != nil || len(unknown) > 0 {
		t.Fatal(unknown, err)
	}
	if cfg.Linger != 0 || cfg.Acks != kastor.AcksLeader || cfg.Compression != kastor.CompressionZstd ||
		strings.Join(cfg.BootstrapServers, ",") != "a:1,b:2" || cfg.MaxBlock <= 1000*time.Hour {
		t.Fatalf("config not as set: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBadProperties(t *testing.T) {
	for kv, want := range map[string]string{
		"acks=2":                    "acks",
		"linger.ms=soon":            "linger.ms",
		"compression.type=brotli":   "compression.type",
		"partitioner.ignore.keys=1": "partitioner.ignore.keys",
	} {
		var flags propList
		if err := flags.Set(kv); err != nil {
			t.Fatal(err)
		}
		cfg := kastor.DefaultConfig()
		if _, err := applyProps(&cfg, flags); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", kv, err, want)
		}
	}
	var flags propList
	if err := flags.Set("novalue"); err == nil {
		t.Error("a prop without = was accepted")
	}
}

// Like the Java producer, properties it does not know are reported (and warned about) but do not
// stop the run; the serializers a Java properties file names are ignored silently.
func TestUnknownPropertiesAreIgnored(t *testing.T) {
	var flags propList
	for _, kv := range []string{"nope=1", "key.serializer=org.apache.kafka.common.serialization.ByteArraySerializer", "linger.ms=7"} {
		if err := flags.Set(kv); err != nil {
			t.Fatal(err)
		}
	}
	cfg := kastor.DefaultConfig()
	unknown, err := applyProps(&cfg, flags)
	if err != nil {
		t.Fatal(err)
	}
	if len(unknown) != 1 || unknown[0].key != "nope" || cfg.Linger != 7*time.Millisecond {
		t.Fatalf("unknown %v, linger %v: want [nope] and 7ms", unknown, cfg.Linger)
	}
}

// The security keys go through kastor's own reading of them.
func TestSecurityProperties(t *testing.T) {
	var flags propList
	for _, kv := range []string{"security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN", "sasl.username=u", "sasl.password=hunter2"} {
		if err := flags.Set(kv); err != nil {
			t.Fatal(err)
		}
	}
	cfg := kastor.DefaultConfig()
	if unknown, err := applyProps(&cfg, flags); err != nil || len(unknown) > 0 {
		t.Fatal(unknown, err)
	}
	if cfg.SASL != (sasl.Plain{User: "u", Pass: "hunter2"}) || cfg.TLS != nil {
		t.Fatalf("SASL %v, TLS %v", cfg.SASL, cfg.TLS)
	}
	flags = nil
	flags.Set("security.protocol=SASL_SSL")
	flags.Set("sasl.password=hunter2")
	if _, err := applyProps(&cfg, flags); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("incomplete SASL settings: %v", err)
	}
}

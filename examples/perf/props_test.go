package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kastor-go/kastor"
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
	if err := applyProps(&cfg, append(props, flags...)); err != nil {
		t.Fatal(err)
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
		"nope=1":                    `unknown producer property "nope"`,
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
		if err := applyProps(&cfg, flags); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", kv, err, want)
		}
	}
	var flags propList
	if err := flags.Set("novalue"); err == nil {
		t.Error("a prop without = was accepted")
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type header struct {
	key   string
	value *string
}

type wantRecord struct {
	key, value *string
	headers    []header
}

func str(s string) *string { return &s }

// A file of header|key:value lines with null markers goes through run and comes back from the
// broker, read with kgo, exactly and in order.
func TestRunProducesLinesInOrder(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "lines"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	bootstrap := cluster.ListenAddrs()[0]

	dir := t.TempDir()
	config := filepath.Join(dir, "producer.properties")
	if err := os.WriteFile(config, []byte("# from a file\nlinger.ms = 1\nkey.serializer=org.apache.kafka.common.serialization.StringSerializer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	input := strings.Join([]string{
		"h1=a;h2=b|k1:v1",
		"h1=NULL|k2:NULL",
		"NULL|NULL:v3",
		"h=x=y|k4:v:with:colons",
		"h5=|k5:",
		"h6=6|:v6 with spaces\r",
	}, "\n") + "\n"
	want := []wantRecord{
		{str("k1"), str("v1"), []header{{"h1", str("a")}, {"h2", str("b")}}},
		{str("k2"), nil, []header{{"h1", nil}}},
		{nil, str("v3"), nil},
		{str("k4"), str("v:with:colons"), []header{{"h", str("x=y")}}},
		{str("k5"), str(""), []header{{"h5", str("")}}},
		{str(""), str("v6 with spaces"), []header{{"h6", str("6")}}},
	}
	var stdout, stderr bytes.Buffer
	args := []string{"--bootstrap-server", bootstrap, "--topic", "lines",
		"--property", "parse.key=true", "--property", "key.separator=:",
		"--property", "parse.headers=true", "--property", "headers.delimiter=|",
		"--property", "headers.separator=;", "--property", "headers.key.separator==",
		"--property", "null.marker=NULL",
		"--producer.config", config, "--producer-property", "client.id=console-test",
		"--compression-codec", "lz4", "--request-required-acks", "all", "--producer-property", "compression.codec=gzip", "--timeout", "2"}
	if code := run(context.Background(), args, strings.NewReader(input), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "6 records acknowledged") {
		t.Errorf("stderr does not count the records: %q", stderr.String())
	}
	if !strings.Contains(stderr.String(), "key.serializer") {
		t.Errorf("stderr does not report the ignored key: %q", stderr.String())
	}
	got := readAll(t, bootstrap, "lines", len(want))
	for i, w := range want {
		r := got[i]
		if c := r.Attrs.CompressionType(); c != 3 { // --compression-codec lz4 beats the property's gzip
			t.Errorf("record %d: compression type %d, want 3 (lz4)", i, c)
		}
		if !sameBytes(r.Key, w.key) || !sameBytes(r.Value, w.value) {
			t.Errorf("record %d: key %q value %q, want %v %v", i, r.Key, r.Value, deref(w.key), deref(w.value))
		}
		if len(r.Headers) != len(w.headers) {
			t.Errorf("record %d: headers %v, want %v", i, r.Headers, w.headers)
			continue
		}
		for j, h := range w.headers {
			if r.Headers[j].Key != h.key || !sameBytes(r.Headers[j].Value, h.value) {
				t.Errorf("record %d header %d: %q=%q, want %q=%v", i, j, r.Headers[j].Key, r.Headers[j].Value, h.key, deref(h.value))
			}
		}
	}

	// --sync, plain lines (no key, no headers), on the same topic after the others.
	stderr.Reset()
	if code := run(context.Background(), []string{"--bootstrap-server", bootstrap, "--topic", "lines", "--sync"},
		strings.NewReader("plain one\nplain\tt two"), &stdout, &stderr); code != 0 {
		t.Fatalf("--sync exit %d: %s", code, stderr.String())
	}
	got = readAll(t, bootstrap, "lines", len(want)+2)
	if string(got[6].Value) != "plain one" || got[6].Key != nil || string(got[7].Value) != "plain\tt two" {
		t.Errorf("--sync records: %q %q", got[6].Value, got[7].Value)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout is not empty: %q", stdout.String())
	}
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func sameBytes(b []byte, s *string) bool {
	if s == nil {
		return b == nil
	}
	return b != nil && string(b) == *s
}

func readAll(t *testing.T, bootstrap, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(got), n)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	if len(got) != n {
		t.Fatalf("read %d records, want %d", len(got), n)
	}
	return got
}

// Failures exit non-zero with a one-line reason, within a bound.
func TestRunFailures(t *testing.T) {
	rows := []struct {
		name   string
		args   []string
		input  string
		reason string
	}{
		{"bad flag", []string{"--topic", "t", "--no-such-flag"}, "", "flag provided but not defined"},
		{"no topic", []string{"--bootstrap-server", "127.0.0.1:1"}, "", "--topic is required"},
		{"bad producer property", []string{"--topic", "t", "--bootstrap-server", "127.0.0.1:1", "--producer-property", "linger.msx=1"}, "", "did you mean linger.ms?"},
		{"bad reader property", []string{"--topic", "t", "--bootstrap-server", "127.0.0.1:1", "--property", "parse.keys=true"}, "", "unknown --property parse.keys"},
		{"missing key separator", []string{"--topic", "t", "--bootstrap-server", "127.0.0.1:1", "--property", "parse.key=true"}, "no tab here\n", "no key separator found on line 1"},
		{"unreachable broker", []string{"--topic", "t", "--bootstrap-server", "127.0.0.1:1", "--producer-property", "max.block.ms=300"}, "a\nb\n", "the record of line 1 failed"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := run(context.Background(), row.args, strings.NewReader(row.input), &stdout, &stderr)
			if elapsed := time.Since(start); elapsed > 15*time.Second {
				t.Errorf("took %v", elapsed)
			}
			if code == 0 {
				t.Fatalf("exit 0; stderr %q", stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, row.reason) {
				t.Errorf("last stderr line %q does not contain %q (stderr %q)", last, row.reason, stderr.String())
			}
		})
	}
}

// Without --bootstrap-server it runs against an embedded broker and says so.
func TestRunEmbedded(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--topic", "embedded"}, strings.NewReader("x\ny\n"), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "embedded broker") || !strings.Contains(stderr.String(), "2 records acknowledged") {
		t.Errorf("stderr %q", stderr.String())
	}
}

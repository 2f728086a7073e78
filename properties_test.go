package kastor

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kastor-go/kastor/sasl"
)

// Every supported key, with Java's value syntax, builds the Config the same setting made by hand
// does, security keys (security.protocol, sasl.*, ssl.*) included.
func TestConfigFromPropertiesEveryKey(t *testing.T) {
	rows := []struct {
		props map[string]string
		want  func(c *Config)
	}{
		{map[string]string{"bootstrap.servers": " a:9092 , b:9093,c:9094 "}, func(c *Config) { c.BootstrapServers = []string{"a:9092", "b:9093", "c:9094"} }},
		{map[string]string{"client.id": "svc-1"}, func(c *Config) { c.ClientID = "svc-1" }},
		{map[string]string{"acks": "all"}, func(c *Config) { c.Acks = AcksAll }},
		{map[string]string{"acks": "-1"}, func(c *Config) { c.Acks = AcksAll }},
		{map[string]string{"acks": "1"}, func(c *Config) { c.Acks = AcksLeader; c.EnableIdempotence = false }},
		{map[string]string{"acks": "0"}, func(c *Config) { c.Acks = AcksNone; c.EnableIdempotence = false }},
		{map[string]string{"batch.size": "65536"}, func(c *Config) { c.BatchSize = 65536 }},
		{map[string]string{"linger.ms": "20"}, func(c *Config) { c.Linger = 20 * time.Millisecond }},
		{map[string]string{"buffer.memory": "67108864"}, func(c *Config) { c.BufferMemory = 64 << 20 }},
		{map[string]string{"max.block.ms": "1500"}, func(c *Config) { c.MaxBlock = 1500 * time.Millisecond }},
		{map[string]string{"max.request.size": "2097152"}, func(c *Config) { c.MaxRequestSize = 2 << 20 }},
		{map[string]string{"compression.type": "none"}, func(c *Config) { c.Compression = CompressionNone }},
		{map[string]string{"compression.type": "gzip"}, func(c *Config) { c.Compression = CompressionGzip }},
		{map[string]string{"compression.type": "snappy"}, func(c *Config) { c.Compression = CompressionSnappy }},
		{map[string]string{"compression.type": "lz4"}, func(c *Config) { c.Compression = CompressionLZ4 }},
		{map[string]string{"compression.type": "zstd"}, func(c *Config) { c.Compression = CompressionZstd }},
		{map[string]string{"compression.type": "gzip", "compression.gzip.level": "9"}, func(c *Config) { c.Compression = CompressionGzip; c.CompressionLevel = 9 }},
		{map[string]string{"compression.type": "lz4", "compression.lz4.level": "4"}, func(c *Config) { c.Compression = CompressionLZ4; c.CompressionLevel = 4 }},
		{map[string]string{"compression.type": "zstd", "compression.zstd.level": "7"}, func(c *Config) { c.Compression = CompressionZstd; c.CompressionLevel = 7 }},
		// A level for another codec has no effect, as in Java.
		{map[string]string{"compression.type": "gzip", "compression.zstd.level": "7"}, func(c *Config) { c.Compression = CompressionGzip }},
		{map[string]string{"request.timeout.ms": "5000"}, func(c *Config) { c.RequestTimeout = 5 * time.Second }},
		{map[string]string{"delivery.timeout.ms": "60000"}, func(c *Config) { c.DeliveryTimeout = time.Minute }},
		{map[string]string{"retries": "3"}, func(c *Config) { c.Retries = 3 }},
		{map[string]string{"retries": "0"}, func(c *Config) { c.Retries = 0; c.EnableIdempotence = false }},
		{map[string]string{"retry.backoff.ms": "250"}, func(c *Config) { c.RetryBackoff = 250 * time.Millisecond }},
		{map[string]string{"retry.backoff.max.ms": "5000"}, func(c *Config) { c.RetryBackoffMax = 5 * time.Second }},
		{map[string]string{"max.in.flight.requests.per.connection": "1"}, func(c *Config) { c.MaxInFlightRequestsPerConnection = 1 }},
		{map[string]string{"max.in.flight.requests.per.connection": "10"}, func(c *Config) { c.MaxInFlightRequestsPerConnection = 10; c.EnableIdempotence = false }},
		{map[string]string{"enable.idempotence": "false"}, func(c *Config) { c.EnableIdempotence = false }},
		{map[string]string{"enable.idempotence": "TRUE"}, func(c *Config) { c.EnableIdempotence = true }},
		{map[string]string{"enable.idempotence": "false", "acks": "1"}, func(c *Config) { c.EnableIdempotence = false; c.Acks = AcksLeader }},
		{map[string]string{"metadata.max.age.ms": "60000"}, func(c *Config) { c.MetadataMaxAge = time.Minute }},
		{map[string]string{"connections.max.idle.ms": "30000"}, func(c *Config) { c.ConnectionsMaxIdle = 30 * time.Second }},
		{map[string]string{"reconnect.backoff.ms": "10"}, func(c *Config) { c.ReconnectBackoff = 10 * time.Millisecond }},
		{map[string]string{"reconnect.backoff.max.ms": "2000"}, func(c *Config) { c.ReconnectBackoffMax = 2 * time.Second }},
		{map[string]string{"socket.connection.setup.timeout.ms": "3000"}, func(c *Config) { c.SocketConnectionSetupTimeout = 3 * time.Second }},
		{map[string]string{"partitioner.ignore.keys": "true"}, func(c *Config) { c.PartitionerIgnoreKeys = true }},
		{map[string]string{"transactional.id": "copier", "transaction.timeout.ms": "30000"},
			func(c *Config) { c.TransactionalID = "copier"; c.TransactionTimeout = 30 * time.Second }},
		// librdkafka's names.
		{map[string]string{"queue.buffering.max.ms": "15"}, func(c *Config) { c.Linger = 15 * time.Millisecond }},
		{map[string]string{"message.timeout.ms": "90000"}, func(c *Config) { c.DeliveryTimeout = 90 * time.Second }},
		{map[string]string{"request.required.acks": "1"}, func(c *Config) { c.Acks = AcksLeader; c.EnableIdempotence = false }},
		{map[string]string{"compression.codec": "snappy"}, func(c *Config) { c.Compression = CompressionSnappy }},
		{map[string]string{"compression.codec": "gzip", "compression.level": "2"}, func(c *Config) { c.Compression = CompressionGzip; c.CompressionLevel = 2 }},
		{map[string]string{"compression.level": "5"}, func(c *Config) {}},
		{map[string]string{"compression.codec": "snappy", "compression.level": "5"}, func(c *Config) { c.Compression = CompressionSnappy }},
		{map[string]string{"message.max.bytes": "100000"}, func(c *Config) { c.MaxRequestSize = 100000 }},
		{map[string]string{"queue.buffering.max.kbytes": "1024"}, func(c *Config) { c.BufferMemory = 1 << 20 }},
		{map[string]string{"max.in.flight": "2"}, func(c *Config) { c.MaxInFlightRequestsPerConnection = 2 }},
		{map[string]string{"message.send.max.retries": "7"}, func(c *Config) { c.Retries = 7 }},
		// Security keys, through securityFromProperties.
		{map[string]string{"security.protocol": "PLAINTEXT"}, func(c *Config) {}},
		{map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": "u", "sasl.password": "hunter2"},
			func(c *Config) { c.SASL = sasl.Plain{User: "u", Pass: "hunter2"} }},
		{map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
			"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="hunter2";`},
			func(c *Config) { c.SASL = sasl.ScramSHA512{User: "u", Pass: "hunter2"} }},
	}
	for _, row := range rows {
		got, ignored, err := ParseProperties(row.props)
		if err != nil {
			t.Errorf("%v: %v", row.props, err)
			continue
		}
		want := DefaultConfig()
		row.want(&want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v:\n got %+v\nwant %+v", row.props, got, want)
		}
		if len(ignored) != 0 {
			t.Errorf("%v: ignored %v", row.props, ignored)
		}
	}
}

func TestPropertiesIgnoredKeys(t *testing.T) {
	props := map[string]string{"bootstrap.servers": "k:9092"}
	for k := range ignoredProperties {
		props[k] = "org.example.Whatever"
	}
	got, ignored, err := ParseProperties(props)
	if err != nil {
		t.Fatal(err)
	}
	if len(ignored) != len(ignoredProperties) {
		t.Fatalf("ignored %v, want all %d", ignored, len(ignoredProperties))
	}
	for _, k := range []string{"key.serializer", "value.serializer", "interceptor.classes", "partitioner.class"} {
		if !ignoredProperties[k] {
			t.Errorf("%s is not ignored", k)
		}
	}
	want := DefaultConfig()
	want.BootstrapServers = []string{"k:9092"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ignored keys changed the Config: %+v", got)
	}
}

func TestPropertiesErrors(t *testing.T) {
	rows := []struct {
		props    map[string]string
		contains []string
	}{
		{map[string]string{"linger.msx": "5"}, []string{"unknown property linger.msx", "did you mean linger.ms?"}},
		{map[string]string{"bootstrap.server": "a:1"}, []string{"did you mean bootstrap.servers?"}},
		{map[string]string{"max.inflight.requests.per.connection": "1"}, []string{"did you mean max.in.flight.requests.per.connection?"}},
		{map[string]string{"zzzzzz": "1"}, []string{"unknown property zzzzzz"}},
		{map[string]string{"acks": "2"}, []string{`acks="2"`, "all, -1, 0, 1"}},
		{map[string]string{"compression.type": "brotli"}, []string{`compression.type="brotli"`}},
		{map[string]string{"linger.ms": "5s"}, []string{`linger.ms="5s"`, "milliseconds"}},
		{map[string]string{"batch.size": "3000000000"}, []string{`batch.size="3000000000"`}},
		{map[string]string{"enable.idempotence": "yes"}, []string{`enable.idempotence="yes"`, "true or false"}},
		{map[string]string{"compression.gzip.level": "high"}, []string{`compression.gzip.level="high"`}},
		{map[string]string{"bootstrap.servers": " , "}, []string{"bootstrap.servers"}},
		{map[string]string{"linger.ms": "5", "queue.buffering.max.ms": "6"}, []string{"linger.ms and queue.buffering.max.ms"}},
		{map[string]string{"compression.type": "zstd", "compression.zstd.level": "3", "compression.level": "4"}, []string{"compression.zstd.level and compression.level"}},
		{map[string]string{"transactional.id": "t", "acks": "1"}, []string{"transactional.id (a transactional producer is idempotent) conflicts with acks=1"}},
		{map[string]string{"transaction.timeout.ms": "1m"}, []string{`transaction.timeout.ms="1m"`}},
		{map[string]string{"enable.idempotence": "true", "acks": "1"}, []string{"enable.idempotence=true conflicts with acks=1"}},
		{map[string]string{"enable.idempotence": "true", "retries": "0"}, []string{"enable.idempotence=true conflicts with retries=0"}},
		{map[string]string{"enable.idempotence": "true", "max.in.flight.requests.per.connection": "6"}, []string{"enable.idempotence=true conflicts with max.in.flight.requests.per.connection=6"}},
		{map[string]string{"enable.idempotence": "true", "request.required.acks": "0"}, []string{"conflicts with request.required.acks=0"}},
		{map[string]string{"security.protocol": "SASL_SSL", "sasl.password": "hunter2"}, []string{"sasl.mechanism"}},
		{map[string]string{"security.protocol": "SSL", "ssl.truststore.location": "/x.jks"}, []string{"unknown property ssl.truststore.location"}},
		{map[string]string{"security.protocol": "TLS"}, []string{"security.protocol"}},
	}
	for _, row := range rows {
		_, _, err := ParseProperties(row.props)
		if err == nil {
			t.Errorf("%v: no error", row.props)
			continue
		}
		if !errors.Is(err, ErrInvalidProperties) {
			t.Errorf("%v: %v does not wrap ErrInvalidProperties", row.props, err)
		}
		for _, c := range row.contains {
			if !strings.Contains(err.Error(), c) {
				t.Errorf("%v: error %q does not contain %q", row.props, err, c)
			}
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows a secret: %v", err)
		}
	}
	for key, secret := range map[string]bool{"sasl.password": true, "ssl.keystore.key": true, "sasl.jaas.config": true,
		"sasl.oauthbearer.client.credentials.client.secret": true, "partitioner.ignore.keys": false, "key.serializer": false, "linger.ms": false} {
		if got := isSecretProperty(key); got != secret {
			t.Errorf("isSecretProperty(%s) = %v", key, got)
		}
	}
	if got := malformed("sasl.password", "hunter2", "x"); strings.Contains(got, "hunter2") || !strings.Contains(got, "<redacted>") {
		t.Errorf("malformed secret: %s", got)
	}
}

// The file exercises every rule of Properties.load: comments, the three separators, whitespace,
// escapes, \uXXXX (a surrogate pair too), continuations and \r\n line ends.
func TestReadPropertiesJavaSyntax(t *testing.T) {
	text := "# a comment\n" +
		"! another comment\n" +
		"   \t\n" +
		"plain=value\n" +
		"colon: value two \n" +
		"space   value three\n" +
		"  indented = x\r\n" +
		"empty=\n" +
		"keyonly\n" +
		"a\\=b\\:c\\ d=escaped key\n" +
		"esc=tab\\there\\nnl\\\\back\\q\n" +
		"uni=caf\\u00e9 \\uD83D\\uDE00\n" +
		"list=one, \\\n" +
		"      two, \\\n" +
		"\t\t three\n" +
		"even=ends with two\\\\\n" +
		"next=line\n" +
		"cont.comment=x\\\n" +
		"   # not a comment\n" +
		"double==v\n" +
		"sep.then.colon  :  v\n" +
		"# a comment ending in a backslash does not continue \\\n" +
		"after.comment=1\n" +
		"last=no newline"
	got, err := ReadProperties(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"plain":          "value",
		"colon":          "value two ",
		"space":          "value three",
		"indented":       "x",
		"empty":          "",
		"keyonly":        "",
		"a=b:c d":        "escaped key",
		"esc":            "tab\there\nnl\\backq",
		"uni":            "café 😀",
		"list":           "one, two, three",
		"even":           `ends with two\`,
		"next":           "line",
		"cont.comment":   "x# not a comment",
		"double":         "=v",
		"sep.then.colon": "v",
		"after.comment":  "1",
		"last":           "no newline",
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%q = %q, want %q", k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected key %q", k)
			}
		}
	}
	if _, err := ReadProperties(strings.NewReader("k=\\u12\n")); !errors.Is(err, ErrInvalidProperties) {
		t.Errorf("malformed \\u: %v", err)
	}
}

func TestLoadProperties(t *testing.T) {
	path := filepath.Join(t.TempDir(), "producer.properties")
	text := "# producer\nbootstrap.servers = a:9092,\\\n    b:9092\nacks: 1\nlinger.ms 10\nkey.serializer=org.apache.kafka.common.serialization.StringSerializer\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadProperties(path)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.BootstrapServers = []string{"a:9092", "b:9092"}
	want.Acks = AcksLeader
	want.EnableIdempotence = false
	want.Linger = 10 * time.Millisecond
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
	if _, err := LoadProperties(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

// Any text reads without a panic, and what it yields reads back the same when written as
// key=value lines with every special character escaped.
func FuzzReadProperties(f *testing.F) {
	f.Add("a=b\n# c\nd: e \\\n  f\n")
	f.Add("k=\\u00e9\\uD83D\\uDE00\r\nx\\")
	f.Add("\\u12")
	f.Fuzz(func(t *testing.T, text string) {
		props, err := ReadProperties(strings.NewReader(text))
		if err != nil {
			return
		}
		var b strings.Builder
		for k, v := range props {
			b.WriteString(escapeForTest(k) + "=" + escapeForTest(v) + "\n")
		}
		again, err := ReadProperties(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-reading %q: %v", b.String(), err)
		}
		if !reflect.DeepEqual(props, again) {
			t.Fatalf("%q read as %q, written back as %q, read as %q", text, props, b.String(), again)
		}
	})
}

func escapeForTest(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '=', ':', ' ', '#', '!':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ConfigFromProperties logs the ignored keys at Warn through slog.Default.
func TestConfigFromPropertiesLogsIgnoredKeys(t *testing.T) {
	var logged strings.Builder
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	defer slog.SetDefault(prev)
	if _, err := ConfigFromProperties(map[string]string{"value.serializer": "x", "linger.ms": "1"}); err != nil {
		t.Fatal(err)
	}
	if out := logged.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "value.serializer") || strings.Contains(out, "linger.ms") {
		t.Errorf("log: %q", out)
	}
}

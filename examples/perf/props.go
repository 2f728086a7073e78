package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kastor-go/kastor"
)

// prop is one producer property, with where it came from for error messages.
type prop struct {
	key, value, source string
}

// propList is the --producer-props flag: repeatable, each value key=value.
type propList []prop

func (p *propList) String() string {
	if p == nil {
		return ""
	}
	parts := make([]string, len(*p))
	for i, pr := range *p {
		parts[i] = pr.key + "=" + pr.value
	}
	return strings.Join(parts, " ")
}

func (p *propList) Set(s string) error {
	key, value, ok := strings.Cut(s, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	*p = append(*p, prop{key: key, value: strings.TrimSpace(value), source: "--producer-props"})
	return nil
}

// readProperties reads a Java .properties file: key=value, key:value or "key value" lines, '#'
// and '!' comments, and lines continued with a trailing backslash.
func readProperties(path string) ([]prop, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var props []prop
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	lineNo, pending := 0, ""
	for sc.Scan() {
		lineNo++
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if pending == "" && (line == "" || line[0] == '#' || line[0] == '!') {
			continue
		}
		if n := trailingBackslashes(line); n%2 == 1 {
			pending += line[:len(line)-1]
			continue
		}
		line, pending = pending+line, ""
		i := strings.IndexAny(line, "=: \t\f")
		key, value := line, ""
		if i >= 0 {
			key = line[:i]
			rest := strings.TrimLeft(line[i:], " \t\f")
			if rest != "" && (rest[0] == '=' || rest[0] == ':') {
				rest = rest[1:]
			}
			value = strings.TrimSpace(rest)
		}
		props = append(props, prop{key: key, value: value, source: fmt.Sprintf("%s:%d", path, lineNo)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return props, nil
}

func trailingBackslashes(s string) int {
	n := 0
	for n < len(s) && s[len(s)-1-n] == '\\' {
		n++
	}
	return n
}

// setters maps each supported Java producer property to the kastor.Config field it sets.
var setters = map[string]func(c *kastor.Config, v string) error{
	"bootstrap.servers": func(c *kastor.Config, v string) error {
		c.BootstrapServers = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.BootstrapServers = append(c.BootstrapServers, s)
			}
		}
		return nil
	},
	"client.id": func(c *kastor.Config, v string) error { c.ClientID = v; return nil },
	"acks": func(c *kastor.Config, v string) error {
		switch strings.ToLower(v) {
		case "all", "-1":
			c.Acks = kastor.AcksAll
		case "0":
			c.Acks = kastor.AcksNone
		case "1":
			c.Acks = kastor.AcksLeader
		default:
			return fmt.Errorf("must be one of all, -1, 0, 1")
		}
		return nil
	},
	"compression.type": func(c *kastor.Config, v string) error {
		codecs := map[string]kastor.Codec{"none": kastor.CompressionNone, "gzip": kastor.CompressionGzip,
			"snappy": kastor.CompressionSnappy, "lz4": kastor.CompressionLZ4, "zstd": kastor.CompressionZstd}
		codec, ok := codecs[strings.ToLower(v)]
		if !ok {
			return fmt.Errorf("must be one of none, gzip, snappy, lz4, zstd")
		}
		c.Compression = codec
		return nil
	},
	"batch.size":       intSetter(func(c *kastor.Config, n int) { c.BatchSize = n }),
	"max.request.size": intSetter(func(c *kastor.Config, n int) { c.MaxRequestSize = n }),
	"retries":          intSetter(func(c *kastor.Config, n int) { c.Retries = n }),
	"max.in.flight.requests.per.connection": intSetter(func(c *kastor.Config, n int) {
		c.MaxInFlightRequestsPerConnection = n
	}),
	"buffer.memory": func(c *kastor.Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer")
		}
		c.BufferMemory = n
		return nil
	},
	"linger.ms":                          msSetter(func(c *kastor.Config, d time.Duration) { c.Linger = d }),
	"max.block.ms":                       msSetter(func(c *kastor.Config, d time.Duration) { c.MaxBlock = d }),
	"request.timeout.ms":                 msSetter(func(c *kastor.Config, d time.Duration) { c.RequestTimeout = d }),
	"delivery.timeout.ms":                msSetter(func(c *kastor.Config, d time.Duration) { c.DeliveryTimeout = d }),
	"retry.backoff.ms":                   msSetter(func(c *kastor.Config, d time.Duration) { c.RetryBackoff = d }),
	"retry.backoff.max.ms":               msSetter(func(c *kastor.Config, d time.Duration) { c.RetryBackoffMax = d }),
	"metadata.max.age.ms":                msSetter(func(c *kastor.Config, d time.Duration) { c.MetadataMaxAge = d }),
	"connections.max.idle.ms":            msSetter(func(c *kastor.Config, d time.Duration) { c.ConnectionsMaxIdle = d }),
	"reconnect.backoff.ms":               msSetter(func(c *kastor.Config, d time.Duration) { c.ReconnectBackoff = d }),
	"reconnect.backoff.max.ms":           msSetter(func(c *kastor.Config, d time.Duration) { c.ReconnectBackoffMax = d }),
	"socket.connection.setup.timeout.ms": msSetter(func(c *kastor.Config, d time.Duration) { c.SocketConnectionSetupTimeout = d }),
	"partitioner.ignore.keys":            boolSetter(func(c *kastor.Config, b bool) { c.PartitionerIgnoreKeys = b }),
	"enable.idempotence":                 boolSetter(func(c *kastor.Config, b bool) { c.EnableIdempotence = b }),
}

func intSetter(set func(*kastor.Config, int)) func(*kastor.Config, string) error {
	return func(c *kastor.Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
			return fmt.Errorf("not a 32-bit integer")
		}
		set(c, n)
		return nil
	}
}

func msSetter(set func(*kastor.Config, time.Duration)) func(*kastor.Config, string) error {
	return func(c *kastor.Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer number of milliseconds")
		}
		d := time.Duration(math.MaxInt64) // Java's Long.MAX_VALUE ms means "forever"
		if n < math.MaxInt64/int64(time.Millisecond) {
			d = time.Duration(n) * time.Millisecond
		}
		set(c, d)
		return nil
	}
}

func boolSetter(set func(*kastor.Config, bool)) func(*kastor.Config, string) error {
	return func(c *kastor.Config, v string) error {
		switch strings.ToLower(v) {
		case "true":
			set(c, true)
		case "false":
			set(c, false)
		default:
			return fmt.Errorf("must be true or false")
		}
		return nil
	}
}

// applyProps sets cfg from props in order, so later ones win. As in Java, acks other than all or
// retries=0 turn idempotence off unless enable.idempotence itself was given.
func applyProps(cfg *kastor.Config, props []prop) (unknown []prop, err error) {
	explicitIdempotence := false
	defer func() {
		if !explicitIdempotence && (cfg.Acks != kastor.AcksAll || cfg.Retries == 0) {
			cfg.EnableIdempotence = false
		}
	}()
	security := map[string]string{}
	for _, p := range props {
		explicitIdempotence = explicitIdempotence || p.key == "enable.idempotence"
		if ignored[p.key] {
			continue
		}
		if p.key == "security.protocol" || strings.HasPrefix(p.key, "sasl.") || strings.HasPrefix(p.key, "ssl.") {
			security[p.key] = p.value
			continue
		}
		set, ok := setters[p.key]
		if !ok {
			unknown = append(unknown, p)
			continue
		}
		if err := set(cfg, p.value); err != nil {
			return unknown, fmt.Errorf("producer property %s=%q (from %s): %v", p.key, p.value, p.source, err)
		}
	}
	if len(security) > 0 {
		// TLS and SASL as kastor reads them from Java properties (errors never show a password).
		sec, _, err := kastor.ParseProperties(security)
		if err != nil {
			return unknown, err
		}
		cfg.TLS, cfg.SASL = sec.TLS, sec.SASL
	}
	return unknown, nil
}

// ignored are Java producer properties with no meaning here: kastor sends bytes as given, as the
// tool's ByteArraySerializer does.
var ignored = map[string]bool{"key.serializer": true, "value.serializer": true}

// propFlag is a flag that adds k=v properties to list, naming source in error messages.
type propFlag struct {
	list   *propList
	source string
}

func (f propFlag) String() string {
	if f.list == nil {
		return ""
	}
	return f.list.String()
}

func (f propFlag) Set(s string) error {
	if err := f.list.Set(s); err != nil {
		return err
	}
	(*f.list)[len(*f.list)-1].source = f.source
	return nil
}

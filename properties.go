package kastor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrInvalidProperties is wrapped by every error ReadProperties, ParseProperties,
// ConfigFromProperties and LoadProperties return for bad input.
var ErrInvalidProperties = errors.New("kastor: invalid properties")

// LoadProperties reads a Java .properties file (see ReadProperties) and builds a Config from it
// (see ConfigFromProperties).
func LoadProperties(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	props, err := ReadProperties(f)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	cfg, err := ConfigFromProperties(props)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ConfigFromProperties builds a Config from Java producer properties: DefaultConfig with every
// given key applied (see ParseProperties). Keys that mean nothing in Go (key.serializer, ...) are
// accepted and logged at Warn through slog.Default(); use ParseProperties to read them instead.
// New still validates the result (bootstrap.servers may come from elsewhere).
func ConfigFromProperties(props map[string]string) (Config, error) {
	cfg, ignored, err := ParseProperties(props)
	if err != nil {
		return Config{}, err
	}
	if len(ignored) > 0 {
		slog.Default().Warn("kastor: producer properties ignored: they have no meaning in Go", "keys", ignored)
	}
	return cfg, nil
}

// ParseProperties is ConfigFromProperties that returns, instead of logging them, the keys it
// accepted but ignored (Java-only keys such as key.serializer or interceptor.classes), sorted.
//
// Values follow Java's syntax: integers and durations (in milliseconds) in decimal, booleans
// true/false in any case, lists separated by commas with surrounding whitespace, acks one of
// all/-1/0/1, compression.type one of none/gzip/snappy/lz4/zstd; surrounding whitespace is trimmed.
// librdkafka's common names are accepted as aliases (queue.buffering.max.ms for linger.ms,
// message.timeout.ms for delivery.timeout.ms, request.required.acks, compression.codec,
// compression.level, queue.buffering.max.kbytes, message.max.bytes, max.in.flight,
// message.send.max.retries); giving both names of one setting is an error.
//
// Idempotence follows Java: when enable.idempotence is not given, it stays on only if acks=all,
// retries > 0 and max.in.flight.requests.per.connection <= 5, and is switched off otherwise; when
// it is given as true together with a conflicting key, that is an error naming both.
//
// An unknown key is an error that suggests the closest known key; a malformed value is an error
// naming the key and the value (values of secret keys are never shown).
func ParseProperties(props map[string]string) (cfg Config, ignored []string, err error) {
	cfg = DefaultConfig()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidProperties}, args...)...))
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	given := map[string]string{} // canonical key -> the key it was given as
	security := map[string]string{}
	levels := map[Codec]levelProp{}
	var anyLevel *levelProp
	for _, key := range keys {
		value := strings.TrimSpace(props[key])
		if isSecurityKey(key) {
			security[key] = props[key]
			continue
		}
		if ignoredProperties[key] {
			ignored = append(ignored, key)
			continue
		}
		if reason, ok := unsupportedProperties[key]; ok {
			bad("%s is not supported: %s", key, reason)
			continue
		}
		canonical := key
		if a, ok := propertyAliases[key]; ok {
			canonical = a.canonical
			value = a.convert(value)
		}
		if other, dup := given[canonical]; dup {
			bad("%s and %s set the same thing; give one", other, key)
			continue
		}
		given[canonical] = key
		if codec, ok := levelKeys[canonical]; ok || canonical == "compression.level" {
			n, perr := strconv.Atoi(value)
			if perr != nil {
				bad("%s", malformed(key, props[key], "an integer"))
				continue
			}
			lp := levelProp{key: key, level: n}
			if ok {
				levels[codec] = lp
			} else {
				anyLevel = &lp
			}
			continue
		}
		setter, ok := propertySetters[canonical]
		if !ok {
			bad("%s", unknownProperty(key))
			continue
		}
		if want := setter(&cfg, value); want != "" {
			bad("%s", malformed(key, props[key], want))
		}
	}
	// A level applies only to its own codec, as in Java; librdkafka's compression.level to any
	// codec that has levels (it is ignored for none and snappy, as in librdkafka).
	if lp, ok := levels[cfg.Compression]; ok {
		cfg.CompressionLevel = lp.level
		if anyLevel != nil {
			bad("%s and %s set the same thing; give one", lp.key, anyLevel.key)
		}
	} else if anyLevel != nil && cfg.Compression != CompressionNone && cfg.Compression != CompressionSnappy {
		cfg.CompressionLevel = anyLevel.level
	}
	if len(security) > 0 {
		unused, err := applySecurityProperties(&cfg, security)
		if err != nil {
			errs = append(errs, err)
		}
		ignored = append(ignored, unused...)
		sort.Strings(ignored)
	}
	if len(errs) == 0 {
		if err := applyIdempotenceRule(&cfg, given); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return Config{}, nil, errors.Join(errs...)
	}
	return cfg, ignored, nil
}

type levelProp struct {
	key   string
	level int
}

// securityPropertyKeys are the security keys kastor reads (securityFromProperties). Others under
// ssl.* and sasl.* (JKS trust and key stores, login callback classes) have no Go meaning that
// could be honoured silently: a file that asks for them is refused rather than half obeyed.
var securityPropertyKeys = []string{"security.protocol", "sasl.mechanism", "sasl.jaas.config", "sasl.username",
	"sasl.password", "ssl.ca.location", "ssl.certificate.location", "ssl.key.location"}

// applySecurityProperties is the one place security.protocol, sasl.* and ssl.* keys go (with their
// raw values: passwords may carry meaningful whitespace). It sets the Config's TLS and SASL
// fields; a known key the chosen security.protocol does not use is ignored (as Java does), an
// unknown one is an error.
func applySecurityProperties(cfg *Config, security map[string]string) (ignored []string, err error) {
	tlsCfg, mech, used, err := securityFromProperties(security)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProperties, err)
	}
	cfg.TLS, cfg.SASL = tlsCfg, mech
	var unknown []string
	for k := range security {
		switch {
		case slices.Contains(used, k):
		case slices.Contains(securityPropertyKeys, k):
			ignored = append(ignored, k)
		default:
			unknown = append(unknown, unknownProperty(k))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("%w: %s", ErrInvalidProperties, strings.Join(unknown, "; "))
	}
	return ignored, nil
}

func isSecurityKey(key string) bool {
	return key == "security.protocol" || strings.HasPrefix(key, "sasl.") || strings.HasPrefix(key, "ssl.")
}

// applyIdempotenceRule is Java's: an explicit enable.idempotence=true (or a transactional.id)
// conflicts loudly, an implicit one gives way.
func applyIdempotenceRule(cfg *Config, given map[string]string) error {
	if !cfg.EnableIdempotence {
		return nil
	}
	var conflicts []string
	if cfg.Acks != AcksAll {
		conflicts = append(conflicts, fmt.Sprintf("%s=%v (must be all)", given["acks"], cfg.Acks))
	}
	if cfg.Retries == 0 {
		conflicts = append(conflicts, fmt.Sprintf("%s=0 (must be above 0)", given["retries"]))
	}
	if cfg.MaxInFlightRequestsPerConnection > 5 {
		conflicts = append(conflicts, fmt.Sprintf("%s=%d (must be at most 5)", given["max.in.flight.requests.per.connection"], cfg.MaxInFlightRequestsPerConnection))
	}
	if len(conflicts) == 0 {
		return nil
	}
	if key, explicit := given["enable.idempotence"]; explicit {
		return fmt.Errorf("%w: %s=true conflicts with %s", ErrInvalidProperties, key, strings.Join(conflicts, ", "))
	}
	if cfg.TransactionalID != "" { // a transactional producer is idempotent: nothing gives way
		return fmt.Errorf("%w: %s (a transactional producer is idempotent) conflicts with %s", ErrInvalidProperties, given["transactional.id"], strings.Join(conflicts, ", "))
	}
	cfg.EnableIdempotence = false
	return nil
}

// propertySetters sets one Config field from a trimmed value; it returns what the value should
// have been, or "" when it was accepted.
var propertySetters = map[string]func(c *Config, v string) (want string){
	"bootstrap.servers": func(c *Config, v string) string {
		c.BootstrapServers = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.BootstrapServers = append(c.BootstrapServers, s)
			}
		}
		if len(c.BootstrapServers) == 0 {
			return "a comma-separated list of host:port"
		}
		return ""
	},
	"client.id": func(c *Config, v string) string { c.ClientID = v; return "" },
	"acks": func(c *Config, v string) string {
		switch strings.ToLower(v) {
		case "all", "-1":
			c.Acks = AcksAll
		case "0":
			c.Acks = AcksNone
		case "1":
			c.Acks = AcksLeader
		default:
			return "one of all, -1, 0, 1"
		}
		return ""
	},
	"compression.type": func(c *Config, v string) string {
		codec, ok := map[string]Codec{"none": CompressionNone, "gzip": CompressionGzip,
			"snappy": CompressionSnappy, "lz4": CompressionLZ4, "zstd": CompressionZstd}[strings.ToLower(v)]
		if !ok {
			return "one of none, gzip, snappy, lz4, zstd"
		}
		c.Compression = codec
		return ""
	},
	"enable.idempotence":                    boolSetter(func(c *Config) *bool { return &c.EnableIdempotence }),
	"partitioner.ignore.keys":               boolSetter(func(c *Config) *bool { return &c.PartitionerIgnoreKeys }),
	"batch.size":                            intSetter(func(c *Config) *int { return &c.BatchSize }),
	"max.request.size":                      intSetter(func(c *Config) *int { return &c.MaxRequestSize }),
	"retries":                               intSetter(func(c *Config) *int { return &c.Retries }),
	"max.in.flight.requests.per.connection": intSetter(func(c *Config) *int { return &c.MaxInFlightRequestsPerConnection }),
	"buffer.memory": func(c *Config, v string) string {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "an integer number of bytes"
		}
		c.BufferMemory = n
		return ""
	},
	"linger.ms":                          msSetter(func(c *Config) *time.Duration { return &c.Linger }),
	"transactional.id":                   func(c *Config, v string) string { c.TransactionalID = v; return "" },
	"transaction.timeout.ms":             msSetter(func(c *Config) *time.Duration { return &c.TransactionTimeout }),
	"max.block.ms":                       msSetter(func(c *Config) *time.Duration { return &c.MaxBlock }),
	"request.timeout.ms":                 msSetter(func(c *Config) *time.Duration { return &c.RequestTimeout }),
	"delivery.timeout.ms":                msSetter(func(c *Config) *time.Duration { return &c.DeliveryTimeout }),
	"retry.backoff.ms":                   msSetter(func(c *Config) *time.Duration { return &c.RetryBackoff }),
	"retry.backoff.max.ms":               msSetter(func(c *Config) *time.Duration { return &c.RetryBackoffMax }),
	"metadata.max.age.ms":                msSetter(func(c *Config) *time.Duration { return &c.MetadataMaxAge }),
	"connections.max.idle.ms":            msSetter(func(c *Config) *time.Duration { return &c.ConnectionsMaxIdle }),
	"reconnect.backoff.ms":               msSetter(func(c *Config) *time.Duration { return &c.ReconnectBackoff }),
	"reconnect.backoff.max.ms":           msSetter(func(c *Config) *time.Duration { return &c.ReconnectBackoffMax }),
	"socket.connection.setup.timeout.ms": msSetter(func(c *Config) *time.Duration { return &c.SocketConnectionSetupTimeout }),
}

// levelKeys are Java's per-codec level keys (KIP-390); compression.level is librdkafka's.
var levelKeys = map[string]Codec{
	"compression.gzip.level": CompressionGzip,
	"compression.lz4.level":  CompressionLZ4,
	"compression.zstd.level": CompressionZstd,
}

type propertyAlias struct {
	canonical string
	convert   func(string) string
}

func same(v string) string { return v }

// propertyAliases are librdkafka's names for the same settings.
var propertyAliases = map[string]propertyAlias{
	"queue.buffering.max.ms":   {"linger.ms", same},
	"message.timeout.ms":       {"delivery.timeout.ms", same},
	"request.required.acks":    {"acks", same},
	"compression.codec":        {"compression.type", same},
	"message.max.bytes":        {"max.request.size", same},
	"max.in.flight":            {"max.in.flight.requests.per.connection", same},
	"message.send.max.retries": {"retries", same},
	"queue.buffering.max.kbytes": {"buffer.memory", func(v string) string {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > math.MaxInt64/1024 || n < math.MinInt64/1024 {
			return v // the setter reports it
		}
		return strconv.FormatInt(n*1024, 10)
	}},
}

// ignoredProperties are Java producer keys that have no meaning in Go: classes, JMX and metrics
// reporters, socket buffer sizes and DNS lookup modes kastor leaves to the Go runtime.
var ignoredProperties = map[string]bool{
	"key.serializer":                           true,
	"value.serializer":                         true,
	"interceptor.classes":                      true,
	"partitioner.class":                        true,
	"partitioner.adaptive.partitioning.enable": true,
	"partitioner.availability.timeout.ms":      true,
	"metric.reporters":                         true,
	"metrics.num.samples":                      true,
	"metrics.recording.level":                  true,
	"metrics.sample.window.ms":                 true,
	"auto.include.jmx.reporter":                true,
	"enable.metrics.push":                      true,
	"client.dns.lookup":                        true,
	"send.buffer.bytes":                        true,
	"receive.buffer.bytes":                     true,
	"metadata.max.idle.ms":                     true,
}

// unsupportedProperties have a meaning kastor cannot honour; ignoring them would change what the
// user asked for.
var unsupportedProperties = map[string]string{}

func boolSetter(field func(*Config) *bool) func(*Config, string) string {
	return func(c *Config, v string) string {
		switch strings.ToLower(v) {
		case "true":
			*field(c) = true
		case "false":
			*field(c) = false
		default:
			return "true or false"
		}
		return ""
	}
}

func intSetter(field func(*Config) *int) func(*Config, string) string {
	return func(c *Config, v string) string {
		n, err := strconv.ParseInt(v, 10, 32) // Java's int
		if err != nil {
			return "a 32-bit integer"
		}
		*field(c) = int(n)
		return ""
	}
}

func msSetter(field func(*Config) *time.Duration) func(*Config, string) string {
	return func(c *Config, v string) string {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Millisecond) || n < math.MinInt64/int64(time.Millisecond) {
			return "an integer number of milliseconds"
		}
		*field(c) = time.Duration(n) * time.Millisecond
		return ""
	}
}

// isSecretProperty says whether a key's value must never be shown.
func isSecretProperty(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"password", "secret", "jaas", "token", "credential"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return strings.HasSuffix(k, ".key") // ssl.keystore.key: a PEM private key
}

func malformed(key, value, want string) string {
	shown := strconv.Quote(value)
	if isSecretProperty(key) {
		shown = "<redacted>"
	}
	return fmt.Sprintf("%s=%s: want %s", key, shown, want)
}

func knownPropertyKeys() []string {
	var keys []string
	for k := range propertySetters {
		keys = append(keys, k)
	}
	for k := range levelKeys {
		keys = append(keys, k)
	}
	for k := range propertyAliases {
		keys = append(keys, k)
	}
	for k := range ignoredProperties {
		keys = append(keys, k)
	}
	keys = append(keys, "compression.level")
	keys = append(keys, securityPropertyKeys...)
	sort.Strings(keys)
	return keys
}

func unknownProperty(key string) string {
	best, bestD := "", math.MaxInt
	for _, k := range knownPropertyKeys() {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= max(3, len(key)/3) {
		return fmt.Sprintf("unknown property %s (did you mean %s?)", key, best)
	}
	return fmt.Sprintf("unknown property %s", key)
}

// editDistance is the Levenshtein distance in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ReadProperties reads the text of a Java .properties file as java.util.Properties.load(Reader)
// does, the text being UTF-8: lines end at \n, \r or \r\n; leading whitespace (space, tab, form
// feed) is skipped; a line whose first other character is # or ! is a comment; a line ending in an
// odd number of backslashes continues on the next, whose leading whitespace is dropped; the key
// ends at the first unescaped '=', ':' or whitespace, and the value starts after that separator
// and any whitespace around it; \t \n \r \f and \uXXXX are escapes, and a backslash before any other
// character stands for that character. A later key replaces an earlier one.
func ReadProperties(r io.Reader) (map[string]string, error) {
	props := map[string]string{}
	br := bufio.NewReader(r)
	var logical strings.Builder
	continuing := false
	lineNo, startLine := 0, 0
	for {
		natural, eof, err := readNaturalLine(br)
		if err != nil {
			return nil, err
		}
		if eof && natural == "" && !continuing {
			break
		}
		lineNo++
		line := strings.TrimLeft(natural, " \t\f")
		if !continuing {
			if line == "" || line[0] == '#' || line[0] == '!' {
				if eof {
					break
				}
				continue
			}
			startLine = lineNo
		}
		if trailingBackslashes(line)%2 == 1 {
			logical.WriteString(line[:len(line)-1])
			continuing = true
			if !eof {
				continue
			}
		} else {
			logical.WriteString(line)
		}
		continuing = false
		key, value, err := splitProperty(logical.String())
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrInvalidProperties, startLine, err)
		}
		props[key] = value
		logical.Reset()
		if eof {
			break
		}
	}
	return props, nil
}

// readNaturalLine returns one line without its terminator (\n, \r or \r\n); eof is true when the
// input ended (the returned line may still hold text).
func readNaturalLine(br *bufio.Reader) (line string, eof bool, err error) {
	var b strings.Builder
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			return b.String(), true, nil
		}
		if err != nil {
			return "", false, err
		}
		switch c {
		case '\n':
			return b.String(), false, nil
		case '\r':
			if next, err := br.Peek(1); err == nil && next[0] == '\n' {
				_, _ = br.ReadByte()
			}
			return b.String(), false, nil
		}
		b.WriteByte(c)
	}
}

func trailingBackslashes(s string) int {
	n := 0
	for n < len(s) && s[len(s)-1-n] == '\\' {
		n++
	}
	return n
}

// splitProperty splits a logical line into its unescaped key and value, as Properties.load.
func splitProperty(line string) (key, value string, err error) {
	keyLen, valueStart := 0, len(line)
	hasSep, escaped := false, false
	for keyLen < len(line) {
		c := line[keyLen]
		if (c == '=' || c == ':') && !escaped {
			valueStart, hasSep = keyLen+1, true
			break
		}
		if (c == ' ' || c == '\t' || c == '\f') && !escaped {
			valueStart = keyLen + 1
			break
		}
		escaped = c == '\\' && !escaped
		keyLen++
	}
	for valueStart < len(line) {
		c := line[valueStart]
		if c != ' ' && c != '\t' && c != '\f' {
			if !hasSep && (c == '=' || c == ':') {
				hasSep = true
			} else {
				break
			}
		}
		valueStart++
	}
	if key, err = unescapeProperty(line[:keyLen]); err != nil {
		return "", "", err
	}
	if value, err = unescapeProperty(line[valueStart:]); err != nil {
		return "", "", fmt.Errorf("in the value of %s: %v", key, err)
	}
	return key, value, nil
}

func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			break // a lone trailing backslash (end of input) stands for nothing
		}
		switch c = s[i]; c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			r, ok := hex4(s, i+1)
			if !ok {
				return "", errors.New(`malformed \uxxxx escape`)
			}
			i += 4
			// Java strings are UTF-16: a surrogate pair arrives as two escapes.
			if utf16.IsSurrogate(r) && strings.HasPrefix(s[i+1:], `\u`) {
				if low, ok := hex4(s, i+3); ok {
					if pair := utf16.DecodeRune(r, low); pair != utf8.RuneError {
						r = pair
						i += 6
					}
				}
			}
			b.WriteRune(r)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func hex4(s string, at int) (rune, bool) {
	if at+4 > len(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(s[at:at+4], 16, 16)
	return rune(n), err == nil
}

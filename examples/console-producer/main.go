// Console-producer reads lines from stdin and produces one record per line, like Apache Kafka's
// kafka-console-producer, with its flags and its line format:
//
//	--bootstrap-server host:port[,host:port]  the cluster (default: an embedded broker, said on stderr)
//	--topic NAME                              required
//	--property parse.key=true                 each line is key<key.separator>value (separator default tab)
//	--property parse.headers=true             each line starts with h1:v1,h2:v2<headers.delimiter> (default tab);
//	                                          headers.separator (default ,) and headers.key.separator (default :)
//	--property null.marker=STRING             a key, value or header value equal to it is null
//	--property ignore.error=true              a line without a separator is taken whole as the value
//	--producer-property key=value             any producer property (repeatable)
//	--producer.config FILE                    a Java .properties file of producer properties
//	--compression-codec, --request-required-acks, --batch-size, --timeout (linger.ms), --max-block-ms,
//	--max-memory-bytes, --message-send-max-retries, --retry-backoff-ms, --request-timeout-ms,
//	--metadata-expiry-ms                      shorthands for producer properties, as in Kafka
//	--sync                                    wait for each line's acknowledgement before the next
//
// Explicit flags override --producer-property, which overrides --producer.config. It exits 0 once
// every line is acknowledged and prints how many were to stderr; any failure exits 1 with a
// one-line reason.
//
//	printf 'k1\tv1\nk2\tv2\n' | go run ./examples/console-producer --topic demo --property parse.key=true
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kastor-go/kastor"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// keyValues is a repeatable key=value flag.
type keyValues struct {
	m map[string]string // a later key=value replaces an earlier one, as in Kafka
}

func (kv *keyValues) String() string { return "" }

func (kv *keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if k = strings.TrimSpace(k); !ok || k == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	if kv.m == nil {
		kv.m = map[string]string{}
	}
	kv.m[k] = v
	return nil
}

// lineFormat is the LineMessageReader's --property settings.
type lineFormat struct {
	parseKey, parseHeaders, ignoreError      bool
	keySep, headersDelim, headersSep, hdrSep string
	nullMarker                               *string
}

func parseLineFormat(props map[string]string) (lineFormat, error) {
	f := lineFormat{keySep: "\t", headersDelim: "\t", headersSep: ",", hdrSep: ":"}
	for k, v := range props {
		var err error
		switch k {
		case "parse.key":
			f.parseKey, err = parseBool(k, v)
		case "parse.headers":
			f.parseHeaders, err = parseBool(k, v)
		case "ignore.error":
			f.ignoreError, err = parseBool(k, v)
		case "key.separator":
			f.keySep = v
		case "headers.delimiter":
			f.headersDelim = v
		case "headers.separator":
			f.headersSep = v
		case "headers.key.separator":
			f.hdrSep = v
		case "null.marker":
			f.nullMarker = &v
		default:
			err = fmt.Errorf("unknown --property %s (known: parse.key, key.separator, parse.headers, headers.delimiter, headers.separator, headers.key.separator, null.marker, ignore.error)", k)
		}
		if err != nil {
			return f, err
		}
	}
	for name, sep := range map[string]string{"key.separator": f.keySep, "headers.delimiter": f.headersDelim, "headers.separator": f.headersSep, "headers.key.separator": f.hdrSep} {
		if sep == "" {
			return f, fmt.Errorf("--property %s must not be empty", name)
		}
		if f.nullMarker != nil && *f.nullMarker == sep {
			return f, fmt.Errorf("--property null.marker and %s may not be equal", name)
		}
	}
	if f.parseHeaders && f.headersSep == f.hdrSep {
		return f, errors.New("--property headers.separator and headers.key.separator may not be equal")
	}
	return f, nil
}

func parseBool(k, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("--property %s=%q: want true or false", k, v)
}

func (f *lineFormat) orNull(s string) []byte {
	if f.nullMarker != nil && s == *f.nullMarker {
		return nil
	}
	return []byte(s)
}

// cut is Kafka's parse: the text from start up to the separator, or ok=false when there is none
// and ignore.error allows it.
func (f *lineFormat) cut(line string, start int, sep, name string, lineNo int) (part string, ok bool, err error) {
	i := strings.Index(line[start:], sep)
	if i < 0 {
		if f.ignoreError {
			return "", false, nil
		}
		return "", false, fmt.Errorf("no %s found on line %d", name, lineNo)
	}
	return line[start : start+i], true, nil
}

// record builds the record of one line as Kafka's LineMessageReader does.
func (f *lineFormat) record(topic, line string, lineNo int) (*kastor.Record, error) {
	rec := &kastor.Record{Topic: topic}
	offset := 0
	if f.parseHeaders {
		headers, ok, err := f.cut(line, 0, f.headersDelim, "headers delimiter", lineNo)
		if err != nil {
			return nil, err
		}
		if ok {
			offset = len(headers) + len(f.headersDelim)
			if f.nullMarker == nil || headers != *f.nullMarker {
				if rec.Headers, err = f.splitHeaders(headers, lineNo); err != nil {
					return nil, err
				}
			}
		}
	}
	if f.parseKey {
		key, ok, err := f.cut(line, offset, f.keySep, "key separator", lineNo)
		if err != nil {
			return nil, err
		}
		if ok {
			rec.Key = f.orNull(key)
			offset += len(key) + len(f.keySep)
		}
	}
	rec.Value = f.orNull(line[offset:])
	return rec, nil
}

func (f *lineFormat) splitHeaders(s string, lineNo int) ([]kastor.Header, error) {
	var hs []kastor.Header
	for _, pair := range strings.Split(s, f.headersSep) {
		k, v, ok := strings.Cut(pair, f.hdrSep)
		if !ok {
			if f.ignoreError {
				hs = append(hs, kastor.Header{Key: pair})
				continue
			}
			return nil, fmt.Errorf("no header key separator found in pair %q on line %d", pair, lineNo)
		}
		if f.nullMarker != nil && k == *f.nullMarker {
			return nil, fmt.Errorf("header key on line %d equals the null marker; header keys cannot be null", lineNo)
		}
		hs = append(hs, kastor.Header{Key: k, Value: f.orNull(v)})
	}
	return hs, nil
}

// propertyFlags are kafka-console-producer's flags that set one producer property each.
var propertyFlags = []struct{ flag, key, usage string }{
	{"compression-codec", "compression.type", "none, gzip, snappy, lz4 or zstd"},
	{"request-required-acks", "acks", "all, -1, 0 or 1"},
	{"batch-size", "batch.size", "bytes per partition batch"},
	{"timeout", "linger.ms", "ms a batch waits for more records"},
	{"max-block-ms", "max.block.ms", "ms a send may block for metadata or memory"},
	{"max-memory-bytes", "buffer.memory", "bytes of records waiting to be sent"},
	{"message-send-max-retries", "retries", "retries of a failed batch"},
	{"retry-backoff-ms", "retry.backoff.ms", "ms before a retry"},
	{"request-timeout-ms", "request.timeout.ms", "ms to wait for a response"},
	{"metadata-expiry-ms", "metadata.max.age.ms", "ms between metadata refreshes"},
}

// librdkafkaNames are the aliases kastor.ParseProperties accepts for the keys above.
var librdkafkaNames = map[string]string{
	"compression.codec":          "compression.type",
	"request.required.acks":      "acks",
	"queue.buffering.max.ms":     "linger.ms",
	"queue.buffering.max.kbytes": "buffer.memory",
	"message.send.max.retries":   "retries",
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "console-producer: "+format+"\n", a...)
		return 1
	}
	fs := flag.NewFlagSet("console-producer", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the reason is printed on one line below
	bootstrap := fs.String("bootstrap-server", "", "host:port[,host:port...] (default: an embedded broker)")
	topic := fs.String("topic", "", "topic to produce to (required)")
	brokerList := fs.String("broker-list", "", "deprecated name of --bootstrap-server")
	// Kafka's shorthand flags for producer properties; given explicitly, they win over
	// --producer-property and --producer.config, as in Kafka.
	shorthands := map[string]string{}
	for _, f := range propertyFlags {
		fs.Func(f.flag, f.usage+" ("+f.key+")", func(v string) error { shorthands[f.key] = v; return nil })
	}
	syncSend := fs.Bool("sync", false, "send each line and wait for its acknowledgement before reading the next")
	configFile := fs.String("producer.config", "", "Java .properties file of producer properties")
	producerProps := &keyValues{}
	fs.Var(producerProps, "producer-property", "producer property key=value (repeatable)")
	readerProps := &keyValues{}
	fs.Var(readerProps, "property", "line reader property key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return 2
		}
		return fail("%v", err)
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if *topic == "" {
		return fail("--topic is required")
	}
	format, err := parseLineFormat(readerProps.m)
	if err != nil {
		return fail("%v", err)
	}

	props := map[string]string{}
	if *configFile != "" {
		f, err := os.Open(*configFile)
		if err != nil {
			return fail("--producer.config: %v", err)
		}
		fileProps, err := kastor.ReadProperties(f)
		f.Close()
		if err != nil {
			return fail("--producer.config %s: %v", *configFile, err)
		}
		for k, v := range fileProps {
			props[k] = v
		}
	}
	for k, v := range producerProps.m {
		props[k] = v
	}
	for key, v := range shorthands {
		props[key] = v
		for alias, canonical := range librdkafkaNames {
			if canonical == key {
				delete(props, alias) // else ParseProperties reports both names
			}
		}
	}
	if *bootstrap == "" {
		*bootstrap = *brokerList
	}
	if *bootstrap == "" {
		if _, ok := props["bootstrap.servers"]; !ok {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, *topic))
			if err != nil {
				return fail("starting the embedded broker: %v", err)
			}
			defer cluster.Close()
			*bootstrap = cluster.ListenAddrs()[0]
			fmt.Fprintf(stderr, "console-producer: no --bootstrap-server: using an embedded broker at %s (its records vanish on exit)\n", *bootstrap)
		}
	}
	if *bootstrap != "" {
		props["bootstrap.servers"] = *bootstrap
	}
	cfg, ignored, err := kastor.ParseProperties(props)
	if err != nil {
		return fail("%s", oneLine(err))
	}
	if len(ignored) > 0 {
		fmt.Fprintf(stderr, "console-producer: ignoring properties with no meaning in Go: %s\n", strings.Join(ignored, ", "))
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	producer, err := kastor.New(cfg)
	if err != nil {
		return fail("%s", oneLine(err))
	}

	var (
		mu        sync.Mutex
		acked     int
		failures  int
		firstFail string
	)
	complete := func(lineNo int) func(kastor.RecordMetadata, error) {
		return func(_ kastor.RecordMetadata, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if failures == 0 {
					firstFail = fmt.Sprintf("the record of line %d failed: %v", lineNo, err)
				}
				failures++
				return
			}
			acked++
		}
	}
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return failures > 0 }

	readErr := func() error {
		br := bufio.NewReader(stdin)
		for lineNo := 1; ; lineNo++ {
			line, err := br.ReadString('\n')
			if err == io.EOF && line == "" {
				return nil
			}
			if err != nil && err != io.EOF {
				return fmt.Errorf("reading stdin: %w", err)
			}
			line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			rec, perr := format.record(*topic, line, lineNo)
			if perr != nil {
				return perr
			}
			if *syncSend {
				md, serr := producer.Send(ctx, rec)
				complete(lineNo)(md, serr)
			} else {
				producer.SendAsync(ctx, rec, complete(lineNo))
			}
			if failed() {
				return nil // the first failure is the reason; stop reading
			}
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
		}
	}()
	// Close waits for every record sent so far to complete, even after an interrupt (as Kafka's does).
	closeErr := producer.Close(context.WithoutCancel(ctx))
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(stderr, "console-producer: %d records acknowledged\n", acked)
	switch {
	case readErr != nil:
		return fail("%s", oneLine(readErr))
	case failures > 0:
		return fail("%s (%d records failed)", oneLine(errors.New(firstFail)), failures)
	case closeErr != nil:
		return fail("closing the producer: %s", oneLine(closeErr))
	}
	return 0
}

// oneLine keeps an error message on one line (errors.Join uses newlines).
func oneLine(err error) string {
	lines := strings.Split(err.Error(), "\n")
	return strings.Join(lines, "; ")
}

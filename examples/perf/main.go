// Perf is kastor's kafka-producer-perf-test: it produces --num-records records of --record-size
// random capital letters (made anew for every record, as Kafka's tool does), payloads picked at
// random from --payload-file (split at --payload-delimiter), or --payload-monotonic counters, as fast
// as it can or at --throughput records/s, and prints the same lines as Kafka's tool: a progress line
// every 5 seconds and a final line with throughput, average and maximum latency, and latency
// percentiles; with --warmup-records, a steady-state total after it. Latency is measured per record
// from just before SendAsync to its callback (in microseconds; Kafka counts whole milliseconds).
//
// With no --bootstrap-server (and no bootstrap.servers property) it starts an embedded
// Kafka-protocol broker (kfake) in-process, so it runs on a fresh machine. Against a real cluster
// the topic must exist. Producer settings take Java property names, from --producer.config FILE
// (or --command-config FILE) and/or --producer-props k=v ... (or --command-property k=v ...), which
// win; the client id defaults to perf-producer-client, and properties kastor does not know are
// warned about and ignored, as the Java producer does.
//
//	go run ./examples/perf --num-records 200000
//	go run ./examples/perf --num-records 50000 --throughput 20000
//	go run ./examples/perf --producer-props compression.type=lz4 linger.ms=10 acks=1
//	go run ./examples/perf --bootstrap-server localhost:9092 --topic perf-test --print-metrics
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kastor-go/kastor"
)

// options are the command line.
type options struct {
	topic        string
	numRecords   int64
	recordSize   int
	payloadFile  string
	payloadDelim string
	monotonic    bool
	throughput   float64
	props        propList
	configFile   string
	bootstrap    string
	printMetrics bool
	warmup       int64
}

func main() {
	opts, err := parseFlags()
	if err == nil {
		err = run(opts, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func parseFlags() (*options, error) {
	o := &options{}
	flag.StringVar(&o.topic, "topic", "perf-test", "topic to produce to")
	flag.Int64Var(&o.numRecords, "num-records", 1_000_000, "number of records to produce")
	flag.IntVar(&o.recordSize, "record-size", 100, "record value size in bytes (not with --payload-file)")
	flag.StringVar(&o.payloadFile, "payload-file", "", "file of payloads (split at --payload-delimiter), one picked at random per record")
	flag.StringVar(&o.payloadDelim, "payload-delimiter", "\\n", "delimiter of the payloads in --payload-file (a regular expression, as Java's Scanner takes it)")
	flag.BoolVar(&o.monotonic, "payload-monotonic", false, "payload is the record's number (0, 1, 2, ...) in decimal")
	flag.Float64Var(&o.throughput, "throughput", -1, "maximum records/s; -1 is unthrottled")
	flag.Var(propFlag{&o.props, "--producer-props"}, "producer-props", "producer property k=v (Java name); repeat the flag or list several after it")
	flag.Var(propFlag{&o.props, "--command-property"}, "command-property", "the same as --producer-props (Kafka 4.x's name)")
	flag.StringVar(&o.configFile, "producer.config", "", "Java .properties file of producer properties")
	flag.StringVar(&o.configFile, "command-config", "", "the same as --producer.config (Kafka 4.x's name)")
	flag.StringVar(&o.bootstrap, "bootstrap-server", "", "Kafka bootstrap server(s) host:port[,host:port] (default: an embedded broker)")
	flag.BoolVar(&o.printMetrics, "print-metrics", false, "print counters at the end")
	flag.Int64Var(&o.warmup, "warmup-records", 0, "the first N of --num-records are warmup, left out of the stats")
	flag.Parse()

	// Like Kafka's tool, --producer-props takes several space-separated k=v; Go's flag package
	// stops at the first of them, so take them here and go on parsing flags after them.
	for args := flag.Args(); len(args) > 0; args = flag.Args() {
		if len(o.props) == 0 || !strings.Contains(args[0], "=") || strings.HasPrefix(args[0], "-") {
			if strings.HasPrefix(args[0], "-") && args[0] != "-" {
				if err := flag.CommandLine.Parse(args); err != nil {
					return nil, err
				}
				continue
			}
			return nil, fmt.Errorf("unexpected argument %q", args[0])
		}
		for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			if err := o.props.Set(args[0]); err != nil {
				return nil, fmt.Errorf("--producer-props: %w", err)
			}
			args = args[1:]
		}
		if err := flag.CommandLine.Parse(args); err != nil {
			return nil, err
		}
	}

	sizeSet := false
	flag.Visit(func(f *flag.Flag) { sizeSet = sizeSet || f.Name == "record-size" })
	sources := 0
	for _, set := range []bool{sizeSet, o.payloadFile != "", o.monotonic} {
		if set {
			sources++
		}
	}
	if o.payloadDelim == "\\n" { // the default, written escaped in the help as Kafka's tool does
		o.payloadDelim = "\n"
	}
	switch {
	case o.numRecords < 1:
		return nil, errors.New("--num-records should be greater than zero")
	case o.warmup < 0 || o.warmup >= o.numRecords:
		return nil, errors.New("the value for --warmup-records must be strictly fewer than the number of records in the test, --num-records")
	case sources > 1:
		return nil, errors.New("use exactly one of --record-size, --payload-file and --payload-monotonic")
	case o.recordSize <= 0:
		return nil, errors.New("--record-size should be greater than zero")
	case o.throughput == 0 || (o.throughput < 0 && o.throughput != -1):
		return nil, errors.New("--throughput must be positive, or -1 for unthrottled")
	case o.topic == "":
		return nil, errors.New("--topic must not be empty")
	}
	return o, nil
}

// producerConfig builds the kastor.Config: defaults, then --producer.config, then
// --producer-props, then --bootstrap-server.
func producerConfig(o *options) (kastor.Config, error) {
	cfg := kastor.DefaultConfig()
	cfg.ClientID = "perf-producer-client" // Kafka's tool sets it unless client.id is given
	var props []prop
	if o.configFile != "" {
		fileProps, err := readProperties(o.configFile)
		if err != nil {
			return cfg, fmt.Errorf("--producer.config: %w", err)
		}
		props = append(props, fileProps...)
	}
	props = append(props, o.props...)
	if o.bootstrap != "" {
		props = append(props, prop{key: "bootstrap.servers", value: o.bootstrap, source: "--bootstrap-server"})
	}
	unknown, err := applyProps(&cfg, props)
	for _, p := range unknown {
		// The Java producer's AbstractConfig.logUnused says this, and goes on.
		fmt.Fprintf(os.Stderr, "WARN The configuration '%s' was supplied but isn't a known config. (from %s)\n", p.key, p.source)
	}
	return cfg, err
}

// payloadSource makes each record's value as Kafka's tool does (generateRandomPayload): a payload
// of the file picked at random, recordSize random capital letters made anew for every record (so
// compression sees what it would see from Kafka's tool), or the record's number. Its random source
// is seeded with 0, as the tool's SplittableRandom is. Not safe for concurrent use.
type payloadSource struct {
	list       [][]byte
	recordSize int
	monotonic  bool
	rng        *rand.Rand
}

func (p *payloadSource) next(i int64) []byte {
	switch {
	case len(p.list) > 0:
		return p.list[p.rng.IntN(len(p.list))]
	case p.monotonic:
		return strconv.AppendInt(nil, i, 10)
	}
	// A fresh slice every record: kastor owns a record's value until its callback runs.
	v := make([]byte, p.recordSize)
	for j := range v {
		v[j] = byte('A' + p.rng.IntN(26))
	}
	return v
}

func newPayloadSource(o *options, out io.Writer) (*payloadSource, error) {
	ps := &payloadSource{recordSize: o.recordSize, monotonic: o.monotonic, rng: rand.New(rand.NewPCG(0, 0))}
	if o.payloadFile == "" {
		return ps, nil
	}
	var err error
	ps.list, err = readPayloadFile(o.payloadFile, o.payloadDelim, out)
	return ps, err
}

// readPayloadFile splits the file at delim (a regular expression, as Java's Scanner.useDelimiter
// takes it); like the Scanner, it yields no token after a final delimiter.
func readPayloadFile(path, delim string, out io.Writer) ([][]byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	fmt.Fprintln(out, "Reading payloads from: "+abs)
	re, err := regexp.Compile(delim)
	if err != nil {
		return nil, fmt.Errorf("--payload-delimiter: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return nil, errors.New("File does not exist or empty file provided.")
	}
	tokens := re.Split(string(data), -1)
	if len(tokens) > 0 && tokens[len(tokens)-1] == "" {
		tokens = tokens[:len(tokens)-1]
	}
	list := make([][]byte, 0, len(tokens))
	for _, t := range tokens {
		list = append(list, []byte(t))
	}
	fmt.Fprintf(out, "Number of messages read: %d\n", len(list))
	if len(list) == 0 {
		return nil, fmt.Errorf("payload file %s has no payloads", path)
	}
	return list, nil
}

func run(o *options, out io.Writer) error {
	cfg, err := producerConfig(o)
	if err != nil {
		return err
	}
	values, err := newPayloadSource(o, out)
	if err != nil {
		return err
	}
	if len(cfg.BootstrapServers) == 0 {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(8, o.topic))
		if err != nil {
			return fmt.Errorf("starting the embedded broker: %w", err)
		}
		defer cluster.Close()
		cfg.BootstrapServers = cluster.ListenAddrs()
		fmt.Fprintf(os.Stderr, "embedded broker at %s, topic %q with 8 partitions\n", cfg.BootstrapServers[0], o.topic)
	}
	producer, err := kastor.New(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()

	var (
		failMu   sync.Mutex
		failed   int64
		firstErr error
	)
	fail := func(err error) {
		failMu.Lock()
		defer failMu.Unlock()
		failed++
		if failed <= 5 {
			fmt.Fprintf(os.Stderr, "record failed: %v\n", err)
		} else if failed == 6 {
			fmt.Fprintln(os.Stderr, "(more failures are only counted)")
		}
		if firstErr == nil {
			firstErr = err
		}
	}

	if o.warmup > 0 {
		fmt.Fprintf(out, "Warmup first %d records. Steady state results will print after the complete test summary.\n", o.warmup)
	}
	sendStart := time.Now()
	st := newStats(o.numRecords, false, sendStart, out)
	var steady *stats // from record o.warmup on, as Kafka's tool makes it
	throttle := newThrottler(o.throughput, sendStart)
	for i := int64(0); i < o.numRecords; i++ {
		value := values.next(i)
		now := time.Now()
		if o.warmup > 0 && i == o.warmup {
			steady = newStats(o.numRecords-o.warmup, true, now, out)
			st.suppressPrinting()
		}
		rec := &kastor.Record{Topic: o.topic, Value: value}
		producer.SendAsync(ctx, rec, callback(now, len(value), st, steady, fail))
		throttle.wait(i+1, time.Now())
	}
	flushErr := producer.Flush(ctx)
	end := time.Now()
	st.printTotal(end)
	if steady != nil {
		steady.printTotal(end)
	}
	failMu.Lock()
	nFailed, errFirst := failed, firstErr
	failMu.Unlock()
	if o.printMetrics {
		printMetrics(out, cfg.ClientID, st, nFailed, o.warmup, end)
	}
	closeErr := producer.Close(ctx)
	if err := errors.Join(flushErr, closeErr); err != nil {
		return err
	}
	if nFailed > 0 {
		return fmt.Errorf("%d of %d records failed; the first: %w", nFailed, o.numRecords, errFirst)
	}
	return nil
}

// callback is Kafka's PerfCallback: a successful record counts in the whole-run stats and, after
// the warmup, in the steady-state stats too.
func callback(sent time.Time, bytes int, st, steady *stats, fail func(error)) func(kastor.RecordMetadata, error) {
	return func(_ kastor.RecordMetadata, err error) {
		done := time.Now()
		if err != nil {
			fail(err)
			return
		}
		st.record(done.Sub(sent), bytes, done)
		if steady != nil {
			steady.record(done.Sub(sent), bytes, done)
		}
	}
}

// printMetrics prints a few counters, laid out like Kafka's tool prints producer metrics.
func printMetrics(out io.Writer, clientID string, st *stats, failed, warmup int64, end time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	tags := "{client-id=" + clientID + "}"
	rows := [][2]string{
		{"record-send-total", fmt.Sprint(st.count)},
		{"record-error-total", fmt.Sprint(failed)},
		{"record-warmup-total", fmt.Sprint(warmup)},
		{"elapsed-ms", fmt.Sprintf("%.3f", float64(end.Sub(st.start).Microseconds())/1000)},
		{"byte-total", fmt.Sprint(st.bytes)},
	}
	width := len("Metric Name")
	for i := range rows {
		rows[i][0] = "perf-metrics:" + rows[i][0] + ":" + tags
		width = max(width, len(rows[i][0]))
	}
	fmt.Fprintf(out, "\n%-*s   %s\n", width, "Metric Name", "Value")
	for _, r := range rows {
		fmt.Fprintf(out, "%-*s : %s\n", width, r[0], r[1])
	}
}

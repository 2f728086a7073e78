// Perf is kastor's kafka-producer-perf-test: it produces --num-records records of --record-size
// bytes (or payloads picked at random from --payload-file) as fast as it can or at --throughput
// records/s, and prints the same lines as Kafka's tool: a progress line every 5 seconds and a final
// line with throughput, average and maximum latency, and latency percentiles. Latency is measured
// per record from just before SendAsync to its callback.
//
// With no --bootstrap-server (and no bootstrap.servers property) it starts an embedded
// Kafka-protocol broker (kfake) in-process, so it runs on a fresh machine. Against a real cluster
// the topic must exist. Producer settings take Java property names, from --producer.config FILE
// and/or --producer-props k=v ... (which win).
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
	"math/rand/v2"
	"os"
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
		err = run(opts)
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
	flag.StringVar(&o.payloadFile, "payload-file", "", "file of newline-separated payloads, one picked at random per record")
	flag.Float64Var(&o.throughput, "throughput", -1, "maximum records/s; -1 is unthrottled")
	flag.Var(&o.props, "producer-props", "producer property k=v (Java name); repeat the flag or list several after it")
	flag.StringVar(&o.configFile, "producer.config", "", "Java .properties file of producer properties")
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
	switch {
	case o.numRecords < 1:
		return nil, errors.New("--num-records must be at least 1")
	case o.warmup < 0 || o.warmup >= o.numRecords:
		return nil, errors.New("--warmup-records must be at least 0 and less than --num-records")
	case o.payloadFile != "" && sizeSet:
		return nil, errors.New("use either --record-size or --payload-file, not both")
	case o.recordSize < 0:
		return nil, errors.New("--record-size must not be negative")
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
	return cfg, applyProps(&cfg, props)
}

// payloads returns the values to send: one of recordSize random capital letters, made once as in
// Kafka's tool, or the lines of the payload file.
func payloads(o *options) ([][]byte, error) {
	if o.payloadFile == "" {
		v := make([]byte, o.recordSize)
		for i := range v {
			v[i] = byte('A' + rand.IntN(26))
		}
		return [][]byte{v}, nil
	}
	fmt.Println("Reading payloads from: " + o.payloadFile)
	data, err := os.ReadFile(o.payloadFile)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for line := range strings.SplitSeq(string(data), "\n") {
		if line = strings.TrimSuffix(line, "\r"); line != "" {
			out = append(out, []byte(line))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("payload file %s has no payloads", o.payloadFile)
	}
	fmt.Printf("Number of messages read: %d\n", len(out))
	return out, nil
}

func run(o *options) error {
	cfg, err := producerConfig(o)
	if err != nil {
		return err
	}
	values, err := payloads(o)
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

	st := newStats(o.numRecords-o.warmup, os.Stdout)
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

	sendStart := time.Now()
	throttle := newThrottler(o.throughput, sendStart)
	for i := int64(0); i < o.numRecords; i++ {
		value := values[0]
		if len(values) > 1 {
			value = values[rand.IntN(len(values))]
		}
		now := time.Now()
		if i == o.warmup {
			st.begin(now)
		}
		rec := &kastor.Record{Topic: o.topic, Value: value}
		if i < o.warmup {
			producer.SendAsync(ctx, rec, func(_ kastor.RecordMetadata, err error) {
				if err != nil {
					fail(err)
				}
			})
		} else {
			producer.SendAsync(ctx, rec, func(_ kastor.RecordMetadata, err error) {
				done := time.Now()
				if err != nil {
					fail(err)
					return
				}
				st.record(done.Sub(now), len(value), done)
			})
		}
		throttle.wait(i+1, time.Now())
	}
	flushErr := producer.Flush(ctx)
	end := time.Now()
	st.printTotal(end)
	failMu.Lock()
	nFailed, errFirst := failed, firstErr
	failMu.Unlock()
	if o.printMetrics {
		printMetrics(cfg.ClientID, st, nFailed, o.warmup, end)
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

// printMetrics prints a few counters, laid out like Kafka's tool prints producer metrics.
func printMetrics(clientID string, st *stats, failed, warmup int64, end time.Time) {
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
	fmt.Printf("\n%-*s   %s\n", width, "Metric Name", "Value")
	for _, r := range rows {
		fmt.Printf("%-*s : %s\n", width, r[0], r[1])
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kastor-go/kastor"
)

// Library names, as the -lib flag and the JSON take them.
const (
	libKastor = "kastor"
	libKgo    = "franz-go"
)

// result is what one client process measured; the client prints it as one JSON line.
type result struct {
	Lib     string `json:"lib"`
	Cell    string `json:"cell"`
	Run     int    `json:"run"`
	Version string `json:"version"`
	// Idempotent is whether the library's configuration produces idempotently.
	Idempotent bool   `json:"idempotent"`
	Linger     string `json:"linger"`
	Batch      string `json:"batch"`  // the batch size limit
	Buffer     string `json:"buffer"` // what bounds the records waiting in the client

	Records    int     `json:"records"`     // measured async records (warmup excluded)
	ValueBytes int64   `json:"value_bytes"` // their value bytes
	WallSec    float64 `json:"wall_s"`      // first send → last completion

	RecordsPerSec   float64 `json:"records_per_s"`
	MBPerSec        float64 `json:"mb_per_s"` // value bytes, 10^6 per MB
	CPUUsPerRecord  float64 `json:"cpu_us_per_record"`
	MaxRSSKiB       int64   `json:"max_rss_kib"`
	AllocsPerRecord float64 `json:"allocs_per_record"`
	BytesPerRecord  float64 `json:"alloc_bytes_per_record"`
	// RecordsPerRequest: measured records over the produce requests of the measured phase (how
	// well a library fills its requests; each one costs system calls on both ends).
	RecordsPerRequest float64 `json:"records_per_request"`
	// BrokerCPUUsPerRecord: the broker process's CPU time over the same phase, per record (0
	// where it cannot be read). The broker shares the machine's cores with the client.
	BrokerCPUUsPerRecord float64 `json:"broker_cpu_us_per_record"`

	SyncRecords int     `json:"sync_records"`
	SyncP50Us   float64 `json:"sync_p50_us"`
	SyncP99Us   float64 `json:"sync_p99_us"`
}

// producer is one library behind the harness. produce sends record i asynchronously and blocks
// only where the library itself blocks (its buffer is full); every record completes through the
// tracker given at construction.
type producer interface {
	produce(i int)
	produceSync(ctx context.Context, i int) error
	close(ctx context.Context) error
	// produceRequests counts the produce requests the library has sent so far.
	produceRequests() uint64
}

// tracker counts the completions of one phase.
type tracker struct {
	left     atomic.Int64
	failed   atomic.Int64
	errOnce  sync.Once
	firstErr error
	end      time.Time
	done     chan struct{}
}

// reset starts a phase of n records; nothing may be in flight.
func (t *tracker) reset(n int) {
	t.left.Store(int64(n))
	t.done = make(chan struct{})
}

func (t *tracker) complete(err error) {
	if err != nil {
		t.failed.Add(1)
		t.errOnce.Do(func() { t.firstErr = err })
	}
	if t.left.Add(-1) == 0 {
		t.end = time.Now()
		close(t.done)
	}
}

type clientOptions struct {
	lib, cell, bootstrap, topic, codec string
	valueSize, keys                    int
	linger0                            bool
	run, records, warmup, sync         int
	timeout                            time.Duration
	cpuProfile                         string
	memProfile                         string
	brokerPID                          int
}

func clientMain(ctx context.Context, args []string) error {
	var o clientOptions
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.StringVar(&o.lib, "lib", libKastor, "library: kastor or franz-go")
	fs.StringVar(&o.cell, "cell", "default", "the cell's name, only echoed in the result")
	fs.StringVar(&o.bootstrap, "bootstrap", "", "comma-separated broker host:port list")
	fs.StringVar(&o.topic, "topic", "", "topic (must exist)")
	fs.IntVar(&o.valueSize, "value-bytes", 100, "bytes per record value")
	fs.IntVar(&o.keys, "keys", 0, "distinct keys, cycled (0: null keys)")
	fs.StringVar(&o.codec, "codec", "none", "compression: none, lz4 or zstd")
	fs.BoolVar(&o.linger0, "linger0", false, "linger 0 instead of the library's default")
	fs.IntVar(&o.run, "run", 1, "run number, only echoed in the result")
	fs.IntVar(&o.records, "records", 1_000_000, "measured records")
	fs.IntVar(&o.warmup, "warmup", 50_000, "records sent and completed before measuring")
	fs.IntVar(&o.sync, "sync-records", 2000, "single-record synchronous sends for latency")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	fs.IntVar(&o.brokerPID, "broker-pid", 0, "the broker's process, whose CPU time over the measured phase is reported too (Linux)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured async phase to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile of the measured async phase to this file (sampling every 4 KiB allocated, so the run is slower)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.bootstrap == "" || o.topic == "" || o.records < 1 || o.warmup < 0 || o.sync < 0 || o.valueSize < 0 || o.keys < 0 {
		return errors.New("need -bootstrap, -topic, -records ≥ 1, and -warmup, -sync-records, -value-bytes, -keys ≥ 0")
	}
	if o.memProfile != "" {
		runtime.MemProfileRate = 4096
	}
	if o.codec != "none" && o.codec != "lz4" && o.codec != "zstd" {
		return fmt.Errorf("-codec %q: want none, lz4 or zstd", o.codec)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	// The send loop uses context.Background(), as a plain producer would, so a client stuck in
	// a full buffer would not see ctx; this bounds it anyway.
	watchdog := time.AfterFunc(o.timeout+10*time.Second, func() {
		fmt.Fprintf(os.Stderr, "compare client: still running after %v, exiting\n", o.timeout)
		os.Exit(2)
	})
	defer watchdog.Stop()
	res, err := measure(ctx, o)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func measure(ctx context.Context, o clientOptions) (*result, error) {
	values, keys := payloads(o.valueSize, o.keys)
	t := &tracker{}
	res := &result{Lib: o.lib, Cell: o.cell, Run: o.run, Version: moduleVersion(o.lib)}
	var (
		p   producer
		err error
	)
	switch o.lib {
	case libKastor:
		p, err = newKastor(o, values, keys, t, res)
	case libKgo:
		p, err = newKgo(o, values, keys, t, res)
	default:
		err = fmt.Errorf("unknown library %q", o.lib)
	}
	if err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			// Bounded: a failed run must still end its process promptly.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p.close(ctx)
		}
	}()

	// Warmup: metadata, connections, the producer ID, buffer pools and the Go heap reach their
	// steady state before anything is measured.
	next := 0
	if _, err := phase(ctx, p, t, &next, o.warmup); err != nil {
		return nil, fmt.Errorf("warmup: %w", err)
	}
	runtime.GC() // the warmup's garbage is not the measured phase's to collect

	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	var allocs0 *bytes.Buffer
	if o.memProfile != "" {
		// The profile is cumulative: the one taken here is subtracted (pprof -base) by writeAllocs's
		// reader, so what remains is the measured phase's.
		allocs0 = new(bytes.Buffer)
		if err := pprof.Lookup("allocs").WriteTo(allocs0, 0); err != nil {
			return nil, err
		}
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	requests0 := p.produceRequests()
	brokerCPU0, brokerCPUOK := processCPU(o.brokerPID)
	cpu0 := cpuTime()
	start, err := phase(ctx, p, t, &next, o.records)
	if err != nil {
		return nil, err
	}
	cpu1 := cpuTime()
	brokerCPU1, _ := processCPU(o.brokerPID)
	requests := p.produceRequests() - requests0
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if o.memProfile != "" {
		if err := writeAllocs(o.memProfile, allocs0); err != nil {
			return nil, err
		}
	}
	runtime.ReadMemStats(&ms1)

	wall := t.end.Sub(start).Seconds()
	n := float64(o.records)
	res.Records = o.records
	res.ValueBytes = int64(o.records) * int64(o.valueSize)
	res.WallSec = wall
	res.RecordsPerSec = n / wall
	res.MBPerSec = float64(res.ValueBytes) / wall / 1e6
	res.CPUUsPerRecord = float64((cpu1 - cpu0).Microseconds()) / n
	res.AllocsPerRecord = float64(ms1.Mallocs-ms0.Mallocs) / n
	res.BytesPerRecord = float64(ms1.TotalAlloc-ms0.TotalAlloc) / n
	if requests > 0 {
		res.RecordsPerRequest = n / float64(requests)
	}
	if brokerCPUOK {
		res.BrokerCPUUsPerRecord = float64((brokerCPU1 - brokerCPU0).Microseconds()) / n
	}

	if o.sync > 0 {
		lat := make([]time.Duration, o.sync)
		for i := range lat {
			t0 := time.Now()
			if err := p.produceSync(ctx, next); err != nil {
				return nil, fmt.Errorf("sync send: %w", err)
			}
			lat[i] = time.Since(t0)
			next++
		}
		slices.Sort(lat)
		res.SyncRecords = o.sync
		res.SyncP50Us = micros(percentile(lat, 0.50))
		res.SyncP99Us = micros(percentile(lat, 0.99))
	}

	closed = true
	if err := p.close(ctx); err != nil {
		return nil, fmt.Errorf("close: %w", err)
	}
	// Peak over the whole process life, warmup and sync phase included: that is what a host
	// would have to provide.
	res.MaxRSSKiB = maxRSSKiB()
	return res, nil
}

// phase sends n records asynchronously and waits for all of them; it returns when the first was
// sent (the last completion is t.end).
func phase(ctx context.Context, p producer, t *tracker, next *int, n int) (time.Time, error) {
	if n == 0 {
		return time.Now(), nil
	}
	t.reset(n)
	start := time.Now()
	for i := *next; i < *next+n; i++ {
		p.produce(i)
	}
	*next += n
	select {
	case <-t.done:
	case <-ctx.Done():
		return start, fmt.Errorf("%d of %d records still not completed: %w", t.left.Load(), n, context.Cause(ctx))
	}
	if f := t.failed.Load(); f > 0 {
		return start, fmt.Errorf("%d records failed, the first with: %w", f, t.firstErr)
	}
	return start, nil
}

// percentile is the nearest-rank percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// moduleVersion names the library's module version from the build info ("(devel)" for kastor,
// which is replaced by the working tree).
func moduleVersion(lib string) string {
	path := "github.com/kastor-go/kastor"
	if lib == libKgo {
		path = "github.com/twmb/franz-go"
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "?"
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return "(working tree)"
			}
			return d.Version
		}
	}
	return "?"
}

type kastorProducer struct {
	p      *kastor.Producer
	topic  string
	values [][]byte
	keys   [][]byte
	cb     func(kastor.RecordMetadata, error)
}

func newKastor(o clientOptions, values, keys [][]byte, t *tracker, res *result) (*kastorProducer, error) {
	// Only what the cell names changes; everything else, idempotence included, stays the
	// library's default.
	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = strings.Split(o.bootstrap, ",")
	switch o.codec {
	case "lz4":
		cfg.Compression = kastor.CompressionLZ4
	case "zstd":
		cfg.Compression = kastor.CompressionZstd
	}
	if o.linger0 {
		cfg.Linger = 0
	}
	res.Idempotent = cfg.EnableIdempotence
	res.Linger = cfg.Linger.String()
	res.Batch = fmt.Sprintf("%d B", cfg.BatchSize)
	res.Buffer = fmt.Sprintf("%d MiB", cfg.BufferMemory>>20)
	p, err := kastor.New(cfg)
	if err != nil {
		return nil, err
	}
	return &kastorProducer{p: p, topic: o.topic, values: values, keys: keys,
		cb: func(_ kastor.RecordMetadata, err error) { t.complete(err) }}, nil
}

func (k *kastorProducer) record(i int) *kastor.Record {
	r := &kastor.Record{Topic: k.topic, Value: k.values[i%len(k.values)]}
	if len(k.keys) > 0 {
		r.Key = k.keys[i%len(k.keys)]
	}
	return r
}

func (k *kastorProducer) produce(i int) {
	k.p.SendAsync(context.Background(), k.record(i), k.cb)
}

func (k *kastorProducer) produceSync(ctx context.Context, i int) error {
	_, err := k.p.Send(ctx, k.record(i))
	return err
}

func (k *kastorProducer) close(ctx context.Context) error { return k.p.Close(ctx) }

// produceRequests counts answered requests: the measured phase ends with every record answered.
func (k *kastorProducer) produceRequests() uint64 { return k.p.Stats().Requests }

type kgoProducer struct {
	cl     *kgo.Client
	topic  string
	values [][]byte
	keys   [][]byte
	cb     func(*kgo.Record, error)
	writes *produceWrites
}

// produceWrites counts the produce requests kgo writes (its broker-write hook, key 0).
type produceWrites struct{ n atomic.Uint64 }

func (w *produceWrites) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 0 && err == nil {
		w.n.Add(1)
	}
}

func newKgo(o clientOptions, values, keys [][]byte, t *tracker, res *result) (*kgoProducer, error) {
	// kgo's defaults (idempotent writes, 10ms linger, up to ~1 MB batches, 50,000 buffered
	// records), with acks=all spelled out and the cell's codec: kgo would otherwise pick
	// snappy, where kastor's default, like Java's, is none.
	codec := kgo.NoCompression()
	writes := new(produceWrites)
	switch o.codec {
	case "lz4":
		codec = kgo.Lz4Compression()
	case "zstd":
		codec = kgo.ZstdCompression()
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(o.bootstrap, ",")...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec),
		kgo.WithHooks(writes),
	}
	if o.linger0 {
		opts = append(opts, kgo.ProducerLinger(0))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	linger, _ := cl.OptValue(kgo.ProducerLinger).(time.Duration)
	res.Linger = linger.String()
	disabled, _ := cl.OptValue(kgo.DisableIdempotentWrite).(bool)
	res.Idempotent = !disabled
	batch, _ := cl.OptValue(kgo.ProducerBatchMaxBytes).(int32)
	res.Batch = fmt.Sprintf("%d B", batch)
	buffered, _ := cl.OptValue(kgo.MaxBufferedRecords).(int64)
	res.Buffer = fmt.Sprintf("%d records", buffered)
	return &kgoProducer{cl: cl, topic: o.topic, values: values, keys: keys, writes: writes,
		cb: func(_ *kgo.Record, err error) { t.complete(err) }}, nil
}

func (k *kgoProducer) record(i int) *kgo.Record {
	r := &kgo.Record{Topic: k.topic, Value: k.values[i%len(k.values)]}
	if len(k.keys) > 0 {
		r.Key = k.keys[i%len(k.keys)]
	}
	return r
}

func (k *kgoProducer) produce(i int) {
	k.cl.Produce(context.Background(), k.record(i), k.cb)
}

func (k *kgoProducer) produceSync(ctx context.Context, i int) error {
	return k.cl.ProduceSync(ctx, k.record(i)).FirstErr()
}

func (k *kgoProducer) produceRequests() uint64 { return k.writes.n.Load() }

func (k *kgoProducer) close(ctx context.Context) error {
	err := k.cl.Flush(ctx)
	k.cl.Close()
	return err
}

// writeAllocs writes the allocation profile to path and the one from before the measured phase to
// path+".base": `go tool pprof -sample_index=alloc_objects -base path.base path` shows the phase.
func writeAllocs(path string, before *bytes.Buffer) error {
	if err := os.WriteFile(path+".base", before.Bytes(), 0o644); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

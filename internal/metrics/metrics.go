// Package metrics records a producer's metrics: always into plain atomic counters (the snapshot
// Producer.Stats returns), and into OpenTelemetry instruments when the producer was given a
// MeterProvider. Every method is called per batch, per request or per connection event, never per
// record, and is a no-op on a nil *Recorder (one nil check), so code that runs without metrics
// (unit tests of the actors) passes nil.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// ScopeName is the instrumentation scope kastor's meter is created with.
const ScopeName = "github.com/kastor-go/kastor"

// The instrument names. The first two are OpenTelemetry's messaging semantic conventions; the
// others are the Java producer's metrics (producer-metrics group) under kafka.producer.
const (
	SentMessages      = "messaging.client.sent.messages"
	OperationDuration = "messaging.client.operation.duration"

	RecordsSent        = "kafka.producer.record.sent"
	RecordErrors       = "kafka.producer.record.errors"
	RecordRetries      = "kafka.producer.record.retries"
	BatchSize          = "kafka.producer.batch.size"
	CompressionRatio   = "kafka.producer.compression.ratio"
	RecordQueueTime    = "kafka.producer.record.queue_time"
	RequestRecords     = "kafka.producer.request.records"
	RequestLatency     = "kafka.producer.request.latency"
	ThrottleTime       = "kafka.producer.produce.throttle_time"
	RecordsQueued      = "kafka.producer.records.queued"
	RecordsInFlight    = "kafka.producer.records.in_flight"
	RequestsInFlight   = "kafka.producer.requests.in_flight"
	BufferAvailable    = "kafka.producer.buffer.available"
	BufferTotal        = "kafka.producer.buffer.total"
	BufferWaitTime     = "kafka.producer.bufferpool.wait_time"
	BatchSplits        = "kafka.producer.batch.splits"
	Connections        = "kafka.producer.connection.count"
	ConnectionCreation = "kafka.producer.connection.creations"
	ConnectionClose    = "kafka.producer.connection.closes"
	AuthFailures       = "kafka.producer.authentication.failures"
)

// The attribute keys, from OpenTelemetry's semantic conventions.
const (
	AttrSystem        = "messaging.system"
	AttrDestination   = "messaging.destination.name"
	AttrOperationName = "messaging.operation.name"
	AttrOperationType = "messaging.operation.type"
	AttrErrorType     = "error.type"
)

// durationBuckets are the bucket boundaries (seconds) the semantic conventions advise for
// messaging.client.operation.duration; the other time histograms use them too.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// Snapshot is the counters' values at one moment; see kastor.Stats for what each one means.
type Snapshot struct {
	RecordsSent, RecordErrors, RecordRetries                  uint64
	Batches, BatchBytes, BatchBytesUncompressed, BatchSizeMax uint64
	RecordQueueTimeTotal, RecordQueueTimeMax                  time.Duration
	Requests, RequestRecords                                  uint64
	RequestLatencyTotal, RequestLatencyMax                    time.Duration
	ThrottleTimeTotal, ThrottleTimeMax                        time.Duration
	RecordsQueued, RecordsInFlight, RequestsInFlight          int64
	BufferAvailableBytes, BufferTotalBytes                    int64
	BufferWaitTimeTotal                                       time.Duration
	BufferWaits                                               uint64
	BatchSplits                                               uint64
	Connections                                               int64
	ConnectionCreations, ConnectionCloses                     uint64
	AuthenticationFailures                                    uint64
}

// Recorder holds a producer's counters and, with a MeterProvider, its instruments.
type Recorder struct {
	buffer func() (used, limit int64)

	recordsSent, recordErrors, recordRetries    atomic.Uint64
	batches, batchBytes, batchBytesUncompressed atomic.Uint64
	batchSizeMax                                maxUint64
	queueTimeTotal                              atomic.Int64
	queueTimeMax                                maxInt64
	requests, requestRecords                    atomic.Uint64
	latencyTotal                                atomic.Int64
	latencyMax                                  maxInt64
	throttleTotal                               atomic.Int64
	throttleMax                                 maxInt64
	recordsTaken, recordsCompleted              atomic.Int64
	recordsInFlight, requestsInFlight           atomic.Int64
	bufferWaitTotal                             atomic.Int64
	bufferWaits                                 atomic.Uint64
	batchSplits                                 atomic.Uint64
	connections                                 atomic.Int64
	connCreations, connCloses, authFailures     atomic.Uint64
	otel                                        *instruments // nil: no MeterProvider
}

// New returns a recorder. buffer reports the buffer memory in use and its limit (nil: none). mp nil
// records into the counters only. If the provider refuses an instrument, New still returns a
// recorder, counting into the counters only, with the error: metrics must not stop a producer.
func New(mp metric.MeterProvider, buffer func() (used, limit int64)) (*Recorder, error) {
	r := &Recorder{buffer: buffer}
	if mp == nil {
		return r, nil
	}
	in, err := newInstruments(mp.Meter(ScopeName), r)
	if err != nil {
		return r, fmt.Errorf("kastor: OpenTelemetry instruments: %w", err)
	}
	r.otel = in
	return r, nil
}

// Close unregisters the observable instruments' callback, so a closed producer stops reporting
// into a provider that outlives it.
func (r *Recorder) Close() {
	if r == nil || r.otel == nil {
		return
	}
	r.otel.registration.Unregister()
}

// Snapshot returns the counters' current values.
func (r *Recorder) Snapshot() Snapshot {
	if r == nil {
		return Snapshot{}
	}
	s := Snapshot{
		RecordsSent: r.recordsSent.Load(), RecordErrors: r.recordErrors.Load(), RecordRetries: r.recordRetries.Load(),
		Batches: r.batches.Load(), BatchBytes: r.batchBytes.Load(), BatchBytesUncompressed: r.batchBytesUncompressed.Load(),
		BatchSizeMax:         r.batchSizeMax.load(),
		RecordQueueTimeTotal: time.Duration(r.queueTimeTotal.Load()), RecordQueueTimeMax: time.Duration(r.queueTimeMax.load()),
		Requests: r.requests.Load(), RequestRecords: r.requestRecords.Load(),
		RequestLatencyTotal: time.Duration(r.latencyTotal.Load()), RequestLatencyMax: time.Duration(r.latencyMax.load()),
		ThrottleTimeTotal: time.Duration(r.throttleTotal.Load()), ThrottleTimeMax: time.Duration(r.throttleMax.load()),
		RecordsQueued: r.recordsQueued(), RecordsInFlight: r.recordsInFlight.Load(), RequestsInFlight: r.requestsInFlight.Load(),
		BufferWaitTimeTotal: time.Duration(r.bufferWaitTotal.Load()), BufferWaits: r.bufferWaits.Load(),
		BatchSplits: r.batchSplits.Load(),
		Connections: r.connections.Load(), ConnectionCreations: r.connCreations.Load(), ConnectionCloses: r.connCloses.Load(),
		AuthenticationFailures: r.authFailures.Load(),
	}
	s.BufferAvailableBytes, s.BufferTotalBytes = r.bufferBytes()
	return s
}

func (r *Recorder) bufferBytes() (available, total int64) {
	if r.buffer == nil {
		return 0, 0
	}
	used, limit := r.buffer()
	return limit - used, limit
}

// recordsQueued is what the accumulators took and did not complete, less what is in a request. The
// three counters are read one after the other while they move, so a reading can be off by what
// changed meanwhile; it is never reported below zero.
func (r *Recorder) recordsQueued() int64 {
	n := r.recordsTaken.Load() - r.recordsCompleted.Load() - r.recordsInFlight.Load()
	return max(n, 0)
}

// BatchCompleted counts a batch's records as acknowledged (err nil) or failed. Completer only,
// once per batch (never per record); a batch without records (a flush marker) counts nothing.
func (r *Recorder) BatchCompleted(topic string, records int, err error) {
	if r == nil || records == 0 {
		return
	}
	n := uint64(records)
	r.recordsCompleted.Add(int64(records))
	if err == nil {
		r.recordsSent.Add(n)
	} else {
		r.recordErrors.Add(n)
	}
	if r.otel != nil {
		r.otel.batchCompleted(topic, int64(records), err)
	}
}

// RecordsTaken counts records an accumulator took charge of (each will pass BatchCompleted once).
func (r *Recorder) RecordsTaken(records int) {
	if r == nil || records == 0 {
		return
	}
	r.recordsTaken.Add(int64(records))
}

// BatchRetried counts a batch's records as retried (Java counts record-retry-total per record).
func (r *Recorder) BatchRetried(topic string, records int) {
	if r == nil {
		return
	}
	r.recordRetries.Add(uint64(records))
	if r.otel != nil {
		r.otel.recordRetries.Add(context.Background(), int64(records), r.otel.topic(topic).ok.add...)
	}
}

// BatchSplit counts an oversize batch split in two.
func (r *Recorder) BatchSplit(topic string) {
	if r == nil {
		return
	}
	r.batchSplits.Add(1)
	if r.otel != nil {
		r.otel.batchSplits.Add(context.Background(), 1, r.otel.topic(topic).ok.add...)
	}
}

// BatchSealed records a batch sealed for its first send: its size on the wire, its size before
// compression, and how long since its first record (Java's record-queue-time, per batch).
func (r *Recorder) BatchSealed(topic string, size, uncompressed int, createdNs int64) {
	if r == nil {
		return
	}
	queued := max(time.Now().UnixNano()-createdNs, 0)
	r.batches.Add(1)
	r.batchBytes.Add(uint64(size))
	r.batchBytesUncompressed.Add(uint64(uncompressed))
	r.batchSizeMax.observe(uint64(size))
	r.queueTimeTotal.Add(queued)
	r.queueTimeMax.observe(queued)
	if r.otel != nil {
		opt := r.otel.topic(topic).ok.rec
		ctx := context.Background()
		r.otel.batchSize.Record(ctx, int64(size), opt...)
		if uncompressed > 0 {
			r.otel.compressionRatio.Record(ctx, float64(size)/float64(uncompressed), opt...)
		}
		r.otel.queueTime.Record(ctx, float64(queued)/1e9, opt...)
	}
}

// RequestSent counts a produce request handed to a connection and returns its start time (unix
// ns), for RequestDone; 0 on a nil Recorder.
func (r *Recorder) RequestSent(batches []*messages.Batch) int64 {
	if r == nil {
		return 0
	}
	r.requestsInFlight.Add(1)
	r.recordsInFlight.Add(int64(countRecords(batches)))
	return time.Now().UnixNano()
}

// RequestDone records a produce request's answer: resp (a *wire.ProduceResponse; nil for acks=0 or
// when err says the request failed), its latency since sentNs, its throttle time. A request whose
// partitions a broker refused counts as failed with the first partition's error (error.type), as
// one the connection failed does with err.
func (r *Recorder) RequestDone(sentNs int64, batches []*messages.Batch, resp wire.Response, err error) {
	if r == nil {
		return
	}
	records := countRecords(batches)
	r.requestsInFlight.Add(-1)
	r.recordsInFlight.Add(-int64(records))
	r.requests.Add(1)
	r.requestRecords.Add(uint64(records))
	latency := max(time.Now().UnixNano()-sentNs, 0)
	r.latencyTotal.Add(latency)
	r.latencyMax.observe(latency)
	var throttle int64
	pr, _ := resp.(*wire.ProduceResponse)
	if pr != nil && pr.ThrottleMillis > 0 {
		throttle = int64(pr.ThrottleMillis) * int64(time.Millisecond)
		r.throttleTotal.Add(throttle)
		r.throttleMax.observe(throttle)
	}
	if r.otel != nil {
		if err == nil && pr != nil {
			err = firstPartitionError(pr)
		}
		r.otel.requestDone(float64(latency)/1e9, int64(records), pr != nil, float64(throttle)/1e9, err)
	}
}

// BufferWaited records a send's wait for buffer memory, which began at start.
func (r *Recorder) BufferWaited(start time.Time) {
	if r == nil {
		return
	}
	d := time.Since(start)
	r.bufferWaitTotal.Add(int64(d))
	r.bufferWaits.Add(1)
	if r.otel != nil {
		r.otel.bufferWait.Add(context.Background(), d.Seconds(), r.otel.system.add...)
	}
}

// ConnectionOpened counts a connection that completed its setup (dial, TLS, ApiVersions, SASL).
func (r *Recorder) ConnectionOpened() {
	if r == nil {
		return
	}
	r.connections.Add(1)
	r.connCreations.Add(1)
	if r.otel != nil {
		r.otel.connCreations.Add(context.Background(), 1, r.otel.system.add...)
	}
}

// ConnectionClosed counts a connection closed; up says it was open (set up), and only then does it
// count: a dial abandoned halfway is not a connection.
func (r *Recorder) ConnectionClosed(up bool) {
	if r == nil || !up {
		return
	}
	r.connections.Add(-1)
	r.connCloses.Add(1)
	if r.otel != nil {
		r.otel.connCloses.Add(context.Background(), 1, r.otel.system.add...)
	}
}

// ConnectionFailed counts an authentication failure when err is one (a refused SASL login or
// certificate, at setup or at re-authentication); other failures count nothing here.
func (r *Recorder) ConnectionFailed(err error) {
	if r == nil || !errors.Is(err, messages.ErrAuthentication) {
		return
	}
	r.authFailures.Add(1)
	if r.otel != nil {
		r.otel.authFailures.Add(context.Background(), 1, r.otel.system.add...)
	}
}

// firstPartitionError is the error of the first partition resp refused, or nil.
func firstPartitionError(resp *wire.ProduceResponse) error {
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if code := resp.Topics[i].Partitions[j].ErrorCode; code != 0 {
				return wire.ErrorForCode(code)
			}
		}
	}
	return nil
}

func countRecords(batches []*messages.Batch) int {
	n := 0
	for _, b := range batches {
		n += b.Records
	}
	return n
}

// ErrorType is the error.type attribute of a failure: the Kafka error code's name when a broker
// answered with one (NOT_LEADER_OR_FOLLOWER), else kastor's own class of error, else "_OTHER" as
// the semantic conventions ask. A delivery timeout names itself first, whatever the last attempt's
// error was: the record failed because time ran out.
func ErrorType(err error) string {
	if errors.Is(err, messages.ErrDeliveryTimeout) {
		return "delivery_timeout"
	}
	var ke *wire.Error
	if errors.As(err, &ke) {
		return ke.Name
	}
	for _, c := range errorClasses {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return "_OTHER"
}

// errorClasses is checked in order: the first match names the error.
var errorClasses = []struct {
	err  error
	name string
}{
	{messages.ErrRecordTooLarge, "record_too_large"},
	{messages.ErrAuthentication, "authentication"},
	{messages.ErrRequestTimeout, "request_timeout"},
	{messages.ErrFatal, "fatal"},
	{messages.ErrProducerRestarted, "producer_restarted"},
	{messages.ErrProducerClosed, "producer_closed"},
	{messages.ErrConnection, "connection"},
	{messages.ErrInternal, "internal"},
	{messages.ErrTimeout, "timeout"},
}

// maxInt64 and maxUint64 keep the largest value observed.
type maxInt64 struct{ v atomic.Int64 }

func (m *maxInt64) observe(x int64) {
	for {
		cur := m.v.Load()
		if x <= cur || m.v.CompareAndSwap(cur, x) {
			return
		}
	}
}

func (m *maxInt64) load() int64 { return m.v.Load() }

type maxUint64 struct{ v atomic.Uint64 }

func (m *maxUint64) observe(x uint64) {
	for {
		cur := m.v.Load()
		if x <= cur || m.v.CompareAndSwap(cur, x) {
			return
		}
	}
}

func (m *maxUint64) load() uint64 { return m.v.Load() }

// instruments are the OpenTelemetry instruments of one producer.
type instruments struct {
	sentMessages      metric.Int64Counter
	operationDuration metric.Float64Histogram
	recordsSent       metric.Int64Counter
	recordErrors      metric.Int64Counter
	recordRetries     metric.Int64Counter
	batchSize         metric.Int64Histogram
	compressionRatio  metric.Float64Histogram
	queueTime         metric.Float64Histogram
	requestRecords    metric.Int64Histogram
	requestLatency    metric.Float64Histogram
	throttleTime      metric.Float64Histogram
	bufferWait        metric.Float64Counter
	batchSplits       metric.Int64Counter
	connCreations     metric.Int64Counter
	connCloses        metric.Int64Counter
	authFailures      metric.Int64Counter
	registration      metric.Registration

	// topics caches each topic's attribute sets (topic name → *topicAttrs): built once, so a batch
	// costs a map lookup, not an allocation.
	topics sync.Map
	// request and requestErrs are the attributes of operation.duration (no destination: a request
	// can carry many topics).
	request     options
	requestErrs sync.Map // error.type → options
	// system is messaging.system alone: the instruments that concern no topic.
	system options
}

// options is one attribute set as the option slices Add and Record take, built once: passing a
// fresh option per call would allocate the variadic slice every time.
type options struct {
	add     []metric.AddOption
	rec     []metric.RecordOption
	observe metric.ObserveOption
}

func optionsOf(kv ...attribute.KeyValue) options {
	o := metric.WithAttributeSet(attribute.NewSet(kv...))
	return options{add: []metric.AddOption{o}, rec: []metric.RecordOption{o}, observe: o}
}

type topicAttrs struct {
	topic string
	ok    options  // messaging.system, messaging.destination.name
	send  options  // ok's attributes and messaging.operation.name/type
	errs  sync.Map // error.type → options (send's attributes and error.type)
}

var (
	systemKafka = attribute.String(AttrSystem, "kafka")
	opName      = attribute.String(AttrOperationName, "send")
	opType      = attribute.String(AttrOperationType, "send")
)

func (in *instruments) topic(name string) *topicAttrs {
	if v, ok := in.topics.Load(name); ok {
		return v.(*topicAttrs)
	}
	dest := attribute.String(AttrDestination, name)
	t := &topicAttrs{topic: name, ok: optionsOf(systemKafka, dest), send: optionsOf(systemKafka, dest, opName, opType)}
	v, _ := in.topics.LoadOrStore(name, t)
	return v.(*topicAttrs)
}

func (t *topicAttrs) withError(errType string) options {
	if v, ok := t.errs.Load(errType); ok {
		return v.(options)
	}
	opt := optionsOf(systemKafka, attribute.String(AttrDestination, t.topic), opName, opType, attribute.String(AttrErrorType, errType))
	v, _ := t.errs.LoadOrStore(errType, opt)
	return v.(options)
}

func (in *instruments) batchCompleted(topic string, n int64, err error) {
	ctx := context.Background()
	t := in.topic(topic)
	if err == nil {
		in.sentMessages.Add(ctx, n, t.send.add...)
		in.recordsSent.Add(ctx, n, t.ok.add...)
		return
	}
	opt := t.withError(ErrorType(err))
	in.sentMessages.Add(ctx, n, opt.add...)
	in.recordErrors.Add(ctx, n, opt.add...)
}

// requestDone records a request's answer; answered says the broker answered (a throttle time, 0 or
// more, is recorded for every answer, as Java's produce-throttle-time averages over all of them).
func (in *instruments) requestDone(latency float64, records int64, answered bool, throttle float64, err error) {
	ctx := context.Background()
	opt := in.request
	if err != nil {
		errType := ErrorType(err)
		v, ok := in.requestErrs.Load(errType)
		if !ok {
			v, _ = in.requestErrs.LoadOrStore(errType, optionsOf(systemKafka, opName, opType, attribute.String(AttrErrorType, errType)))
		}
		opt = v.(options)
	}
	in.operationDuration.Record(ctx, latency, opt.rec...)
	in.requestLatency.Record(ctx, latency, opt.rec...)
	in.requestRecords.Record(ctx, records, in.request.rec...)
	if answered {
		in.throttleTime.Record(ctx, throttle, in.request.rec...)
	}
}

func newInstruments(m metric.Meter, r *Recorder) (*instruments, error) {
	in := &instruments{request: optionsOf(systemKafka, opName, opType), system: optionsOf(systemKafka)}
	var errs []error
	i64c := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	seconds := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		errs = append(errs, err)
		return h
	}
	var err error
	in.sentMessages = i64c(SentMessages, "{message}", "Records the producer finished sending: acknowledged, or failed (with error.type).")
	in.operationDuration = seconds(OperationDuration, "Duration of a produce request, from sending it to its answer.")
	in.recordsSent = i64c(RecordsSent, "{record}", "Records acknowledged (Java's record-send-total).")
	in.recordErrors = i64c(RecordErrors, "{record}", "Records that failed (Java's record-error-total).")
	in.recordRetries = i64c(RecordRetries, "{record}", "Records retried, once per retry of their batch (Java's record-retry-total).")
	in.batchSize, err = m.Int64Histogram(BatchSize, metric.WithUnit("By"), metric.WithDescription("Size of a batch as sent, compressed (Java's batch-size)."),
		metric.WithExplicitBucketBoundaries(256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304))
	errs = append(errs, err)
	in.compressionRatio, err = m.Float64Histogram(CompressionRatio, metric.WithUnit("1"), metric.WithDescription("Compressed size of a batch over its uncompressed size (Java's compression-rate)."),
		metric.WithExplicitBucketBoundaries(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1))
	errs = append(errs, err)
	in.queueTime = seconds(RecordQueueTime, "Time from a batch's first record to its first send (Java's record-queue-time).")
	in.requestRecords, err = m.Int64Histogram(RequestRecords, metric.WithUnit("{record}"), metric.WithDescription("Records in a produce request (Java's records-per-request)."),
		metric.WithExplicitBucketBoundaries(1, 10, 100, 1000, 10000, 100000))
	errs = append(errs, err)
	in.requestLatency = seconds(RequestLatency, "Produce request latency (Java's request-latency).")
	in.throttleTime = seconds(ThrottleTime, "Throttle time of each produce response, 0 when not throttled (Java's produce-throttle-time).")
	in.bufferWait, err = m.Float64Counter(BufferWaitTime, metric.WithUnit("s"), metric.WithDescription("Time sends waited for buffer memory (Java's bufferpool-wait-time-total)."))
	errs = append(errs, err)
	in.batchSplits = i64c(BatchSplits, "{batch}", "Oversize batches split in two (Java's batch-split-total).")
	in.connCreations = i64c(ConnectionCreation, "{connection}", "Connections set up (Java's connection-creation-total).")
	in.connCloses = i64c(ConnectionClose, "{connection}", "Connections closed (Java's connection-close-total).")
	in.authFailures = i64c(AuthFailures, "{failure}", "Failed authentications (Java's failed-authentication-total).")

	queued, err := m.Int64ObservableUpDownCounter(RecordsQueued, metric.WithUnit("{record}"), metric.WithDescription("Records accepted and not completed, not in a request in flight."))
	errs = append(errs, err)
	inFlight, err := m.Int64ObservableUpDownCounter(RecordsInFlight, metric.WithUnit("{record}"), metric.WithDescription("Records in produce requests awaiting an answer."))
	errs = append(errs, err)
	requests, err := m.Int64ObservableUpDownCounter(RequestsInFlight, metric.WithUnit("{request}"), metric.WithDescription("Produce requests awaiting an answer (Java's requests-in-flight)."))
	errs = append(errs, err)
	available, err := m.Int64ObservableUpDownCounter(BufferAvailable, metric.WithUnit("By"), metric.WithDescription("Buffer memory not in use (Java's buffer-available-bytes)."))
	errs = append(errs, err)
	total, err := m.Int64ObservableUpDownCounter(BufferTotal, metric.WithUnit("By"), metric.WithDescription("Buffer memory limit (Java's buffer-total-bytes)."))
	errs = append(errs, err)
	conns, err := m.Int64ObservableUpDownCounter(Connections, metric.WithUnit("{connection}"), metric.WithDescription("Open connections (Java's connection-count)."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	system := in.system.observe
	in.registration, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(queued, r.recordsQueued(), system)
		o.ObserveInt64(inFlight, r.recordsInFlight.Load(), system)
		o.ObserveInt64(requests, r.requestsInFlight.Load(), system)
		if r.buffer != nil {
			avail, limit := r.bufferBytes()
			o.ObserveInt64(available, avail, system)
			o.ObserveInt64(total, limit, system)
		}
		o.ObserveInt64(conns, r.connections.Load(), system)
		return nil
	}, queued, inFlight, requests, available, total, conns)
	if err != nil {
		return nil, err
	}
	return in, nil
}

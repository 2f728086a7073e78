package kastor

import (
	"time"

	"github.com/kastor-go/kastor/internal/metrics"
)

// Stats is a snapshot of a producer's counters, for programs without OpenTelemetry (with
// Config.MeterProvider the same numbers go to the instruments the README's metrics table lists).
// Counters are totals since New; averages are a total over its count (RequestLatencyTotal /
// Requests is Java's request-latency-avg). Everything is counted per batch, request or connection
// event, so a snapshot taken while records flow can be a batch behind on some fields.
type Stats struct {
	// RecordsSent counts records acknowledged (record-send-total); RecordErrors, records that
	// failed after being accepted (record-error-total); RecordRetries, records retried, once per
	// retry of their batch (record-retry-total).
	RecordsSent, RecordErrors, RecordRetries uint64
	// Batches counts batches sealed for sending; BatchBytes their size as sent (compressed) and
	// BatchBytesUncompressed before compression: BatchBytes/Batches is batch-size-avg,
	// BatchBytes/BatchBytesUncompressed is compression-rate-avg. BatchSizeMax is batch-size-max.
	Batches, BatchBytes, BatchBytesUncompressed, BatchSizeMax uint64
	// RecordQueueTimeTotal and Max: from a batch's first record to its first send, summed over
	// Batches (record-queue-time-avg/max).
	RecordQueueTimeTotal, RecordQueueTimeMax time.Duration
	// Requests counts answered produce requests; RequestRecords the records in them
	// (RequestRecords/Requests is records-per-request-avg).
	Requests, RequestRecords uint64
	// RequestLatencyTotal and Max: produce request latency (request-latency-avg/max).
	RequestLatencyTotal, RequestLatencyMax time.Duration
	// ThrottleTimeTotal and Max: the throttle time brokers answered with; ThrottleTimeTotal /
	// Requests is produce-throttle-time-avg (over every request, throttled or not).
	ThrottleTimeTotal, ThrottleTimeMax time.Duration
	// RecordsQueued: records accepted and not completed, less RecordsInFlight; RecordsInFlight:
	// records in produce requests awaiting an answer; RequestsInFlight: those requests
	// (requests-in-flight).
	RecordsQueued, RecordsInFlight, RequestsInFlight int64
	// BufferAvailableBytes and BufferTotalBytes: buffer memory not in use, and BufferMemory
	// (buffer-available-bytes, buffer-total-bytes).
	BufferAvailableBytes, BufferTotalBytes int64
	// BufferWaitTimeTotal: time sends waited for buffer memory (bufferpool-wait-time-total), over
	// BufferWaits waits.
	BufferWaitTimeTotal time.Duration
	BufferWaits         uint64
	// BatchSplits counts oversize batches split in two (batch-split-total).
	BatchSplits uint64
	// Connections is the number of open broker connections (connection-count);
	// ConnectionCreations and ConnectionCloses count them opened and closed
	// (connection-creation-total, connection-close-total).
	Connections                           int64
	ConnectionCreations, ConnectionCloses uint64
	// AuthenticationFailures counts refused logins (failed-authentication-total).
	AuthenticationFailures uint64
}

// Stats returns a snapshot of the producer's counters. It is cheap (atomic loads) and safe to call
// at any time, also after Close.
func (p *Producer) Stats() Stats {
	return Stats(p.shared.Metrics.Snapshot())
}

// newRecorder builds the producer's metrics recorder: counters always (for Stats), OpenTelemetry
// instruments too when Config.MeterProvider is set. A provider that refuses the instruments is
// logged, not fatal.
func (p *Producer) newRecorder() *metrics.Recorder {
	rec, err := metrics.New(p.cfg.MeterProvider, func() (int64, int64) { return p.memory.Used(), p.memory.Limit() })
	if err != nil {
		p.logger.Warn("kastor: metrics go to Stats only", "err", err)
	}
	return rec
}

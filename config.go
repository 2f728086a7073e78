package kastor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/metric"

	"github.com/kastor-go/kastor/sasl"
	"github.com/kastor-go/kastor/wire"
)

// Acks is how many acknowledgements the leader must have received before answering a produce
// request (Java's acks).
type Acks int16

const (
	// AcksAll waits for the full set of in-sync replicas (acks=all, -1). The default.
	AcksAll Acks = -1
	// AcksNone does not wait for any answer: a record completes when it is written to the socket,
	// with offset -1 (acks=0).
	AcksNone Acks = 0
	// AcksLeader waits for the leader's write only (acks=1).
	AcksLeader Acks = 1
)

func (a Acks) String() string {
	switch a {
	case AcksAll:
		return "all"
	case AcksNone:
		return "0"
	case AcksLeader:
		return "1"
	}
	return fmt.Sprintf("Acks(%d)", int16(a))
}

// Codec is a compression codec for record batches.
type Codec = wire.Codec

// The compression codecs (compression.type).
const (
	CompressionNone   = wire.CodecNone
	CompressionGzip   = wire.CodecGzip
	CompressionSnappy = wire.CodecSnappy
	CompressionLZ4    = wire.CodecLZ4
	CompressionZstd   = wire.CodecZstd
)

// DefaultCompressionLevel asks the codec for its own default level.
const DefaultCompressionLevel = -1

// Interceptor sees every record before it is sent and every acknowledgement (Java's
// ProducerInterceptor). OnSend may return a replacement record (or the same one); returning nil keeps
// the original. Both run on kastor's goroutines and must be fast and safe for concurrent use. A
// panicking interceptor is logged and skipped: it never breaks a send.
type Interceptor interface {
	OnSend(rec *Record) *Record
	OnAcknowledgement(md RecordMetadata, err error)
}

// Config configures a Producer. Start from DefaultConfig and change what you need: New rejects a
// Config that was not made by DefaultConfig, so a forgotten field never silently means zero. Field
// names follow the Java producer's keys; each comment gives the Java key and the default.
type Config struct {
	// BootstrapServers are "host:port" addresses used to discover the cluster (bootstrap.servers).
	// Required.
	BootstrapServers []string
	// ClientID is sent with every request (client.id). Default "kastor".
	ClientID string
	// Acks (acks). Default AcksAll.
	Acks Acks
	// EnableIdempotence (enable.idempotence): the broker writes each record once and in order
	// however often a batch is retried, with up to 5 requests in flight. It requires Acks =
	// AcksAll, MaxInFlightRequestsPerConnection <= 5 and Retries > 0; a Config that breaks one of
	// these while idempotence is on is an error (Java falls back silently when the field was not
	// set explicitly; kastor cannot tell, and a silent fallback would be a surprise). Default true.
	EnableIdempotence bool
	// BatchSize is the most bytes of records one partition batch holds before it is sent
	// (batch.size). A single larger record gets a batch of its own. Default 16384.
	BatchSize int
	// Linger is how long a batch waits for more records before it is sent (linger.ms); 0 sends as
	// soon as possible. Default 5ms.
	Linger time.Duration
	// BufferMemory is the most bytes of records waiting to be sent or acknowledged; sends block
	// when it is spent (buffer.memory). Default 32 MiB.
	BufferMemory int64
	// MaxBlock bounds how long Send and SendAsync block waiting for metadata or buffer memory
	// (max.block.ms). Default 60s.
	MaxBlock time.Duration
	// MaxRequestSize is the largest produce request, and so the largest record (max.request.size).
	// Default 1 MiB.
	MaxRequestSize int
	// Compression of record batches (compression.type). Default CompressionNone.
	Compression Codec
	// CompressionLevel (compression.<codec>.level); DefaultCompressionLevel uses the codec's
	// default. Default DefaultCompressionLevel.
	CompressionLevel int
	// RequestTimeout bounds the wait for a response (request.timeout.ms). Default 30s.
	RequestTimeout time.Duration
	// DeliveryTimeout bounds the time from a send until the record completes, retries included
	// (delivery.timeout.ms); it must be at least Linger + RequestTimeout. Default 120s.
	DeliveryTimeout time.Duration
	// Retries is how many times a failed batch is retried (retries). Default math.MaxInt32.
	Retries int
	// RetryBackoff is the first wait before a retry (retry.backoff.ms). Default 100ms.
	RetryBackoff time.Duration
	// RetryBackoffMax caps the exponential retry backoff (retry.backoff.max.ms). Default 1s.
	RetryBackoffMax time.Duration
	// MaxInFlightRequestsPerConnection (max.in.flight.requests.per.connection). Default 5.
	MaxInFlightRequestsPerConnection int
	// MetadataMaxAge forces a metadata refresh this often (metadata.max.age.ms). Default 5m.
	MetadataMaxAge time.Duration
	// ConnectionsMaxIdle closes connections idle for this long (connections.max.idle.ms).
	// Default 9m.
	ConnectionsMaxIdle time.Duration
	// ReconnectBackoff is the first wait before reconnecting to a broker (reconnect.backoff.ms).
	// Default 50ms.
	ReconnectBackoff time.Duration
	// ReconnectBackoffMax caps the exponential reconnect backoff (reconnect.backoff.max.ms).
	// Default 1s.
	ReconnectBackoffMax time.Duration
	// SocketConnectionSetupTimeout bounds connecting to a broker, ApiVersions included
	// (socket.connection.setup.timeout.ms). Default 10s.
	SocketConnectionSetupTimeout time.Duration
	// Partitioner chooses partitions for records that name none (partitioner.class); nil uses the
	// default: murmur2 for keyed records (Java-compatible) and uniform sticky (KIP-794) for the rest.
	Partitioner Partitioner
	// PartitionerIgnoreKeys spreads keyed records like null-keyed ones
	// (partitioner.ignore.keys). Default false.
	PartitionerIgnoreKeys bool
	// Interceptors (interceptor.classes), called in order.
	Interceptors []Interceptor
	// Logger receives kastor's logs; nil uses slog.Default(). A healthy run logs nothing at Info
	// or above; connection losses and recoveries and metadata changes are Info, retries Warn,
	// failed batches Error, anything per record Debug (README, "Logging").
	Logger *slog.Logger
	// MeterProvider receives kastor's OpenTelemetry metrics (messaging.client.* and
	// kafka.producer.*; see the README's metrics table); nil records none. Producer.Stats works
	// either way. Default nil.
	MeterProvider metric.MeterProvider
	// Dialer opens broker connections; nil uses a net.Dialer. Tests use it to run on an in-memory
	// network.
	Dialer func(ctx context.Context, network, address string) (net.Conn, error)
	// TLS secures every broker connection (security.protocol SSL or SASL_SSL); nil means
	// plaintext. The server name to verify is the broker's host unless TLS.ServerName is set;
	// client certificates (TLS.Certificates) give mutual TLS. Default nil.
	TLS *tls.Config
	// SASL logs every connection in with this mechanism (sasl.mechanism, sasl.jaas.config), right
	// after ApiVersions: sasl.Plain, sasl.ScramSHA256, sasl.ScramSHA512, sasl.OAuthBearer, or your
	// own sasl.Mechanism. Its printed form hides the secrets. Default nil (no login).
	SASL sasl.Mechanism
	// ActorSystem runs kastor's actors; nil makes a private one. One system per process is cheapest.
	// kastor does not configure a system it is given: build it with
	// actor.NewActorSystem(kastor.ActorSystemOptions(logger)...) so protoactor's own logging (it
	// prints "actor system started" at Info to stderr by default) goes to your logger, and a dead
	// letter's goroutine does not outlive Shutdown long enough to trip goleak.
	ActorSystem *actor.ActorSystem
	// TransactionalID makes the producer transactional (transactional.id): its records are sent
	// inside transactions (InitTransactions, BeginTransaction, CommitTransaction, ...) and
	// committed or aborted atomically across partitions. A producer with the same id fences this
	// one. A transactional producer is idempotent: EnableIdempotence = false with a
	// TransactionalID is an error. Default "" (not transactional).
	TransactionalID string
	// TransactionTimeout is how long the transaction coordinator waits for a transaction to end
	// before it aborts it (transaction.timeout.ms); the broker caps it at its
	// transaction.max.timeout.ms. Default 60s.
	TransactionTimeout time.Duration

	fromDefaults bool
}

// DefaultConfig returns the Java 4.0 producer defaults (see each field).
func DefaultConfig() Config {
	return Config{
		ClientID:                         "kastor",
		Acks:                             AcksAll,
		EnableIdempotence:                true,
		BatchSize:                        16384,
		Linger:                           5 * time.Millisecond,
		BufferMemory:                     32 << 20,
		MaxBlock:                         60 * time.Second,
		MaxRequestSize:                   1 << 20,
		Compression:                      CompressionNone,
		CompressionLevel:                 DefaultCompressionLevel,
		RequestTimeout:                   30 * time.Second,
		DeliveryTimeout:                  120 * time.Second,
		Retries:                          math.MaxInt32,
		RetryBackoff:                     100 * time.Millisecond,
		RetryBackoffMax:                  time.Second,
		MaxInFlightRequestsPerConnection: 5,
		MetadataMaxAge:                   5 * time.Minute,
		ConnectionsMaxIdle:               9 * time.Minute,
		ReconnectBackoff:                 50 * time.Millisecond,
		ReconnectBackoffMax:              time.Second,
		SocketConnectionSetupTimeout:     10 * time.Second,
		TransactionTimeout:               60 * time.Second,
		fromDefaults:                     true,
	}
}

// ErrInvalidConfig is wrapped by every configuration error New returns.
var ErrInvalidConfig = errors.New("kastor: invalid config")

// Validate reports every invalid field, each named, or nil.
func (c *Config) Validate() error {
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	if !c.fromDefaults {
		add("Config must start from kastor.DefaultConfig()")
	}
	if len(c.BootstrapServers) == 0 {
		add("BootstrapServers is empty")
	}
	for _, s := range c.BootstrapServers {
		if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
			add("BootstrapServers entry %q is not host:port", s)
		}
	}
	switch c.Acks {
	case AcksAll, AcksNone, AcksLeader:
	default:
		add("Acks %d is not one of AcksAll (-1), AcksNone (0), AcksLeader (1)", int16(c.Acks))
	}
	if c.EnableIdempotence {
		const off = "or set EnableIdempotence = false"
		if c.Acks != AcksAll {
			add("Acks must be AcksAll while EnableIdempotence is true (the default), not %v; %s", c.Acks, off)
		}
		if c.MaxInFlightRequestsPerConnection > 5 {
			add("MaxInFlightRequestsPerConnection %d must be at most 5 while EnableIdempotence is true (the default); %s", c.MaxInFlightRequestsPerConnection, off)
		}
		if c.Retries == 0 {
			add("Retries must be above 0 while EnableIdempotence is true (the default); %s", off)
		}
	}
	if c.TransactionalID != "" && !c.EnableIdempotence {
		add("EnableIdempotence must be true with a TransactionalID (a transactional producer is idempotent)")
	}
	if c.TransactionalID != "" && (c.TransactionTimeout < time.Millisecond || c.TransactionTimeout.Milliseconds() > math.MaxInt32) {
		add("TransactionTimeout %v must be between 1ms and %dms", c.TransactionTimeout, math.MaxInt32)
	}
	if c.BatchSize < 1 {
		add("BatchSize %d must be at least 1", c.BatchSize)
	}
	if c.Linger < 0 {
		add("Linger %v must not be negative", c.Linger)
	}
	if c.BufferMemory < 1 {
		add("BufferMemory %d must be positive", c.BufferMemory)
	}
	if c.MaxBlock < 0 {
		add("MaxBlock %v must not be negative", c.MaxBlock)
	}
	if c.MaxRequestSize < 1 {
		add("MaxRequestSize %d must be positive", c.MaxRequestSize)
	}
	if c.Compression < CompressionNone || c.Compression > CompressionZstd {
		add("Compression %d is not a known codec", int8(c.Compression))
	} else if err := checkLevel(c.Compression, c.CompressionLevel); err != nil {
		add("CompressionLevel: %v", err)
	}
	if c.RequestTimeout <= 0 {
		add("RequestTimeout %v must be positive", c.RequestTimeout)
	}
	if c.DeliveryTimeout < c.Linger+c.RequestTimeout {
		add("DeliveryTimeout %v must be at least Linger + RequestTimeout (%v)", c.DeliveryTimeout, c.Linger+c.RequestTimeout)
	}
	if c.Retries < 0 {
		add("Retries %d must not be negative", c.Retries)
	}
	if c.RetryBackoff <= 0 {
		add("RetryBackoff %v must be positive", c.RetryBackoff)
	}
	if c.RetryBackoffMax < c.RetryBackoff {
		add("RetryBackoffMax %v must be at least RetryBackoff %v", c.RetryBackoffMax, c.RetryBackoff)
	}
	if c.MaxInFlightRequestsPerConnection < 1 {
		add("MaxInFlightRequestsPerConnection %d must be at least 1", c.MaxInFlightRequestsPerConnection)
	}
	if c.MetadataMaxAge <= 0 {
		add("MetadataMaxAge %v must be positive", c.MetadataMaxAge)
	}
	if c.ConnectionsMaxIdle <= 0 {
		add("ConnectionsMaxIdle %v must be positive", c.ConnectionsMaxIdle)
	}
	if c.ReconnectBackoff <= 0 {
		add("ReconnectBackoff %v must be positive", c.ReconnectBackoff)
	}
	if c.ReconnectBackoffMax < c.ReconnectBackoff {
		add("ReconnectBackoffMax %v must be at least ReconnectBackoff %v", c.ReconnectBackoffMax, c.ReconnectBackoff)
	}
	if c.SocketConnectionSetupTimeout <= 0 {
		add("SocketConnectionSetupTimeout %v must be positive", c.SocketConnectionSetupTimeout)
	}
	for i, in := range c.Interceptors {
		if in == nil {
			add("Interceptors[%d] is nil", i)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(bad, "; "))
}

// checkLevel accepts the levels each codec's library takes (and DefaultCompressionLevel).
func checkLevel(c Codec, level int) error {
	if level == DefaultCompressionLevel {
		return nil
	}
	lo, hi := 0, 0
	switch c {
	case CompressionNone, CompressionSnappy:
		return fmt.Errorf("%s has no levels; use DefaultCompressionLevel", c)
	case CompressionGzip, CompressionLZ4:
		lo, hi = 0, 9
	case CompressionZstd:
		lo, hi = 1, 22
	}
	if level < lo || level > hi {
		return fmt.Errorf("%d is outside %s's range %d..%d", level, c, lo, hi)
	}
	return nil
}

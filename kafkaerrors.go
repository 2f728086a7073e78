package kastor

import "github.com/kastor-go/kastor/wire"

// KafkaError is an error code a broker answered with. Match a specific one with errors.Is and the
// values below (errors.Is(err, kastor.ErrNotLeaderOrFollower)); errors.As gives the code, its
// protocol name and whether it is retriable. The wire package has every code Kafka defines.
type KafkaError = wire.Error

// The Kafka errors a producer meets, re-exported from wire so that matching them needs no other
// import. They are the same values as wire's: errors.Is works with either.
var (
	// ErrUnknownTopicOrPartition (UNKNOWN_TOPIC_OR_PARTITION, retriable): the topic does not exist
	// (mistyped, or not created and auto-creation is off) or the broker does not host the
	// partition. A send waiting for such a topic's metadata ends at MaxBlock with ErrTimeout
	// wrapping it.
	ErrUnknownTopicOrPartition = wire.ErrUnknownTopicOrPartition
	// ErrLeaderNotAvailable (LEADER_NOT_AVAILABLE, retriable): a leader election is under way, or
	// the topic was just created.
	ErrLeaderNotAvailable = wire.ErrLeaderNotAvailable
	// ErrNotLeaderOrFollower (NOT_LEADER_OR_FOLLOWER, retriable): the broker is no longer the
	// partition's leader; kastor refreshes metadata and retries.
	ErrNotLeaderOrFollower = wire.ErrNotLeaderOrFollower
	// ErrMessageTooLarge (MESSAGE_TOO_LARGE): the broker refused a record larger than the topic's
	// max.message.bytes.
	ErrMessageTooLarge = wire.ErrMessageTooLarge
	// ErrRecordListTooLarge (RECORD_LIST_TOO_LARGE): the broker refused a request larger than its
	// limits.
	ErrRecordListTooLarge = wire.ErrRecordListTooLarge
	// ErrNotEnoughReplicas (NOT_ENOUGH_REPLICAS, retriable): fewer in-sync replicas than the topic's
	// min.insync.replicas, with acks=all.
	ErrNotEnoughReplicas = wire.ErrNotEnoughReplicas
	// ErrNotEnoughReplicasAfterAppend (NOT_ENOUGH_REPLICAS_AFTER_APPEND, retriable): the record was
	// written, but fewer replicas than min.insync.replicas have it.
	ErrNotEnoughReplicasAfterAppend = wire.ErrNotEnoughReplicasAfterAppend
	// ErrRequestTimedOut (REQUEST_TIMED_OUT, retriable): the broker timed out waiting for its
	// replicas (the produce request's timeout); not kastor's own ErrRequestTimeout.
	ErrRequestTimedOut = wire.ErrRequestTimedOut
	// ErrTopicAuthorizationFailed (TOPIC_AUTHORIZATION_FAILED): the principal may not write to the
	// topic. Fails the records of that topic only.
	ErrTopicAuthorizationFailed = wire.ErrTopicAuthorizationFailed
	// ErrClusterAuthorizationFailed (CLUSTER_AUTHORIZATION_FAILED): the principal may not use an
	// idempotent producer (IDEMPOTENT_WRITE). Fatal: it comes wrapped with ErrFatal.
	ErrClusterAuthorizationFailed = wire.ErrClusterAuthorizationFailed
	// ErrTransactionalIDAuthorizationFailed (TRANSACTIONAL_ID_AUTHORIZATION_FAILED): the principal
	// may not use the transactional id.
	ErrTransactionalIDAuthorizationFailed = wire.ErrTransactionalIDAuthorizationFailed
	// ErrSaslAuthenticationFailed (SASL_AUTHENTICATION_FAILED): the broker refused the credentials.
	ErrSaslAuthenticationFailed = wire.ErrSaslAuthenticationFailed
	// ErrInvalidRequiredAcks (INVALID_REQUIRED_ACKS): the broker refused the Acks setting.
	ErrInvalidRequiredAcks = wire.ErrInvalidRequiredAcks
	// ErrInvalidTimestamp (INVALID_TIMESTAMP): the record's timestamp is outside the range the
	// topic accepts (message.timestamp.*.max.ms).
	ErrInvalidTimestamp = wire.ErrInvalidTimestamp
	// ErrUnsupportedForMessageFormat (UNSUPPORTED_FOR_MESSAGE_FORMAT): the topic's message format is
	// too old for what the record uses (headers, for instance).
	ErrUnsupportedForMessageFormat = wire.ErrUnsupportedForMessageFormat
	// ErrUnsupportedCompressionType (UNSUPPORTED_COMPRESSION_TYPE): the broker cannot store the
	// batch's codec (zstd before Kafka 2.1).
	ErrUnsupportedCompressionType = wire.ErrUnsupportedCompressionType
	// ErrPolicyViolation (POLICY_VIOLATION): a broker-side policy refused the request.
	ErrPolicyViolation = wire.ErrPolicyViolation
	// ErrOutOfOrderSequenceNumber (OUT_OF_ORDER_SEQUENCE_NUMBER): the broker saw a gap in the
	// idempotent producer's sequence numbers.
	ErrOutOfOrderSequenceNumber = wire.ErrOutOfOrderSequenceNumber
	// ErrProducerFenced (PRODUCER_FENCED): another producer with the same transactional id took
	// over. Fatal.
	ErrProducerFenced = wire.ErrProducerFenced
	// ErrThrottlingQuotaExceeded (THROTTLING_QUOTA_EXCEEDED, retriable): a quota was exceeded.
	ErrThrottlingQuotaExceeded = wire.ErrThrottlingQuotaExceeded
	// ErrKafkaStorageError (KAFKA_STORAGE_ERROR, retriable): the broker's log directory failed.
	ErrKafkaStorageError = wire.ErrKafkaStorageError
	// ErrUnknownServerError (UNKNOWN_SERVER_ERROR): the broker hit an unexpected error.
	ErrUnknownServerError = wire.ErrUnknownServerError
)

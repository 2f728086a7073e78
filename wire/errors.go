package wire

import (
	"errors"
	"strconv"
)

// Error is a Kafka protocol error code as a Go error. Every known code has one shared *Error
// (ErrNotLeaderOrFollower, ErrMessageTooLarge, ...), so errors.Is matches them through any wrapping:
//
//	err := fmt.Errorf("produce t-0: %w", wire.ErrorForCode(6))
//	errors.Is(err, wire.ErrNotLeaderOrFollower) // true
//
// Two *Error values with the same Code also match each other under errors.Is, so an error made
// for an unknown code matches another one made for the same code.
type Error struct {
	// Code is the protocol error code.
	Code int16
	// Name is the protocol name of the code, as in Kafka's Errors.java (NOT_LEADER_OR_FOLLOWER).
	Name string
	// Retriable reports whether the Java client treats the error as transient (its exception
	// extends RetriableException): the same request may succeed if sent again, usually after a
	// metadata refresh.
	Retriable bool
	// Description says in one sentence what the code means.
	Description string
}

// Error returns "NAME: Description", or NAME alone when there is no description.
func (e *Error) Error() string {
	if e.Description == "" {
		return e.Name
	}
	return e.Name + ": " + e.Description
}

// Is reports whether target is an *Error with the same code, so errors.Is also matches errors made
// for codes this package does not know.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.Code == e.Code
}

// ErrorForCode returns the error for a protocol error code: nil for 0 (NONE), the shared *Error for
// a known code, and a new non-retriable *Error named UNKNOWN_ERROR_CODE_<code> for a code this
// package does not know (a newer broker may send codes added after it was written). The result is
// a plain error: it is never a typed nil.
func ErrorForCode(code int16) error {
	if code == 0 {
		return nil
	}
	if i := int(code) + 1; i >= 0 && i < len(errorsByCode) {
		if e := errorsByCode[i]; e != nil {
			return e
		}
	}
	return &Error{Code: code, Name: "UNKNOWN_ERROR_CODE_" + strconv.Itoa(int(code))}
}

// IsRetriable reports whether err is, or wraps, a retriable *Error.
func IsRetriable(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Retriable
}

// The protocol error codes, from -1 through the highest code Kafka 4.x defines. Names and codes
// follow Kafka's Errors.java; Retriable follows the Java client's exception hierarchy (which
// differs from franz-go's kerr for BROKER_NOT_AVAILABLE, CONCURRENT_TRANSACTIONS,
// SHARE_SESSION_NOT_FOUND and INVALID_SHARE_SESSION_EPOCH).
var (
	ErrUnknownServerError                     = &Error{Code: -1, Name: "UNKNOWN_SERVER_ERROR", Retriable: false, Description: "The broker hit an unexpected error while handling the request."}
	ErrOffsetOutOfRange                       = &Error{Code: 1, Name: "OFFSET_OUT_OF_RANGE", Retriable: false, Description: "The requested offset lies outside the range the broker holds for the partition."}
	ErrCorruptMessage                         = &Error{Code: 2, Name: "CORRUPT_MESSAGE", Retriable: true, Description: "A record failed its CRC check, has an invalid size, or is otherwise malformed."}
	ErrUnknownTopicOrPartition                = &Error{Code: 3, Name: "UNKNOWN_TOPIC_OR_PARTITION", Retriable: true, Description: "The broker does not host this topic-partition."}
	ErrInvalidFetchSize                       = &Error{Code: 4, Name: "INVALID_FETCH_SIZE", Retriable: false, Description: "The requested fetch size is not valid."}
	ErrLeaderNotAvailable                     = &Error{Code: 5, Name: "LEADER_NOT_AVAILABLE", Retriable: true, Description: "The partition has no leader right now, usually because an election is in progress."}
	ErrNotLeaderOrFollower                    = &Error{Code: 6, Name: "NOT_LEADER_OR_FOLLOWER", Retriable: true, Description: "This server is not the leader for that topic-partition."}
	ErrRequestTimedOut                        = &Error{Code: 7, Name: "REQUEST_TIMED_OUT", Retriable: true, Description: "The request timed out on the broker."}
	ErrBrokerNotAvailable                     = &Error{Code: 8, Name: "BROKER_NOT_AVAILABLE", Retriable: false, Description: "The broker is not available."}
	ErrReplicaNotAvailable                    = &Error{Code: 9, Name: "REPLICA_NOT_AVAILABLE", Retriable: true, Description: "The replica for the requested topic-partition is not available."}
	ErrMessageTooLarge                        = &Error{Code: 10, Name: "MESSAGE_TOO_LARGE", Retriable: false, Description: "The request contains a record or batch larger than the broker or topic accepts."}
	ErrStaleControllerEpoch                   = &Error{Code: 11, Name: "STALE_CONTROLLER_EPOCH", Retriable: false, Description: "The controller has moved to another broker."}
	ErrOffsetMetadataTooLarge                 = &Error{Code: 12, Name: "OFFSET_METADATA_TOO_LARGE", Retriable: false, Description: "The metadata attached to an offset commit is too large."}
	ErrNetworkException                       = &Error{Code: 13, Name: "NETWORK_EXCEPTION", Retriable: true, Description: "The connection was closed before a response arrived."}
	ErrCoordinatorLoadInProgress              = &Error{Code: 14, Name: "COORDINATOR_LOAD_IN_PROGRESS", Retriable: true, Description: "The coordinator is still loading its state and cannot serve requests yet."}
	ErrCoordinatorNotAvailable                = &Error{Code: 15, Name: "COORDINATOR_NOT_AVAILABLE", Retriable: true, Description: "The coordinator is not available."}
	ErrNotCoordinator                         = &Error{Code: 16, Name: "NOT_COORDINATOR", Retriable: true, Description: "This broker is not the coordinator for the requested key."}
	ErrInvalidTopicException                  = &Error{Code: 17, Name: "INVALID_TOPIC_EXCEPTION", Retriable: false, Description: "The request named a topic that is invalid or cannot be written to."}
	ErrRecordListTooLarge                     = &Error{Code: 18, Name: "RECORD_LIST_TOO_LARGE", Retriable: false, Description: "The batch is larger than the segment size configured on the broker."}
	ErrNotEnoughReplicas                      = &Error{Code: 19, Name: "NOT_ENOUGH_REPLICAS", Retriable: true, Description: "The write was rejected because fewer replicas are in sync than min.insync.replicas requires."}
	ErrNotEnoughReplicasAfterAppend           = &Error{Code: 20, Name: "NOT_ENOUGH_REPLICAS_AFTER_APPEND", Retriable: true, Description: "The write reached the log but fewer replicas than required acknowledged it."}
	ErrInvalidRequiredAcks                    = &Error{Code: 21, Name: "INVALID_REQUIRED_ACKS", Retriable: false, Description: "The produce request asked for an invalid number of acknowledgements."}
	ErrIllegalGeneration                      = &Error{Code: 22, Name: "ILLEGAL_GENERATION", Retriable: false, Description: "The group generation id in the request is not valid."}
	ErrInconsistentGroupProtocol              = &Error{Code: 23, Name: "INCONSISTENT_GROUP_PROTOCOL", Retriable: false, Description: "The member's protocols do not match those of the group."}
	ErrInvalidGroupID                         = &Error{Code: 24, Name: "INVALID_GROUP_ID", Retriable: false, Description: "The group id is not valid."}
	ErrUnknownMemberID                        = &Error{Code: 25, Name: "UNKNOWN_MEMBER_ID", Retriable: false, Description: "The coordinator does not know this member."}
	ErrInvalidSessionTimeout                  = &Error{Code: 26, Name: "INVALID_SESSION_TIMEOUT", Retriable: false, Description: "The session timeout is outside the range the broker allows."}
	ErrRebalanceInProgress                    = &Error{Code: 27, Name: "REBALANCE_IN_PROGRESS", Retriable: false, Description: "The group is rebalancing; the member must rejoin."}
	ErrInvalidCommitOffsetSize                = &Error{Code: 28, Name: "INVALID_COMMIT_OFFSET_SIZE", Retriable: false, Description: "The size of the offset commit data is not valid."}
	ErrTopicAuthorizationFailed               = &Error{Code: 29, Name: "TOPIC_AUTHORIZATION_FAILED", Retriable: false, Description: "The client is not authorized to access the topic."}
	ErrGroupAuthorizationFailed               = &Error{Code: 30, Name: "GROUP_AUTHORIZATION_FAILED", Retriable: false, Description: "The client is not authorized to access the group."}
	ErrClusterAuthorizationFailed             = &Error{Code: 31, Name: "CLUSTER_AUTHORIZATION_FAILED", Retriable: false, Description: "The client is not authorized for this cluster operation."}
	ErrInvalidTimestamp                       = &Error{Code: 32, Name: "INVALID_TIMESTAMP", Retriable: false, Description: "A record timestamp is outside the range the topic accepts."}
	ErrUnsupportedSaslMechanism               = &Error{Code: 33, Name: "UNSUPPORTED_SASL_MECHANISM", Retriable: false, Description: "The broker does not support the requested SASL mechanism."}
	ErrIllegalSaslState                       = &Error{Code: 34, Name: "ILLEGAL_SASL_STATE", Retriable: false, Description: "The request is not allowed in the current SASL state."}
	ErrUnsupportedVersionCode                 = &Error{Code: 35, Name: "UNSUPPORTED_VERSION", Retriable: false, Description: "The broker does not support this API version."}
	ErrTopicAlreadyExists                     = &Error{Code: 36, Name: "TOPIC_ALREADY_EXISTS", Retriable: false, Description: "A topic with this name already exists."}
	ErrInvalidPartitions                      = &Error{Code: 37, Name: "INVALID_PARTITIONS", Retriable: false, Description: "The requested number of partitions is not valid."}
	ErrInvalidReplicationFactor               = &Error{Code: 38, Name: "INVALID_REPLICATION_FACTOR", Retriable: false, Description: "The replication factor is below 1 or above the number of available brokers."}
	ErrInvalidReplicaAssignment               = &Error{Code: 39, Name: "INVALID_REPLICA_ASSIGNMENT", Retriable: false, Description: "The replica assignment is not valid."}
	ErrInvalidConfig                          = &Error{Code: 40, Name: "INVALID_CONFIG", Retriable: false, Description: "The configuration is not valid."}
	ErrNotController                          = &Error{Code: 41, Name: "NOT_CONTROLLER", Retriable: true, Description: "This broker is not the active controller."}
	ErrInvalidRequest                         = &Error{Code: 42, Name: "INVALID_REQUEST", Retriable: false, Description: "The broker could not understand the request; it may be malformed or meant for another broker version."}
	ErrUnsupportedForMessageFormat            = &Error{Code: 43, Name: "UNSUPPORTED_FOR_MESSAGE_FORMAT", Retriable: false, Description: "The topic's message format version does not support this request."}
	ErrPolicyViolation                        = &Error{Code: 44, Name: "POLICY_VIOLATION", Retriable: false, Description: "The request violates a policy configured on the broker."}
	ErrOutOfOrderSequenceNumber               = &Error{Code: 45, Name: "OUT_OF_ORDER_SEQUENCE_NUMBER", Retriable: false, Description: "The broker received a producer sequence number it did not expect next."}
	ErrDuplicateSequenceNumber                = &Error{Code: 46, Name: "DUPLICATE_SEQUENCE_NUMBER", Retriable: false, Description: "The broker already has a batch with this producer sequence number."}
	ErrInvalidProducerEpoch                   = &Error{Code: 47, Name: "INVALID_PRODUCER_EPOCH", Retriable: false, Description: "The producer epoch in the request is older than the broker's."}
	ErrInvalidTxnState                        = &Error{Code: 48, Name: "INVALID_TXN_STATE", Retriable: false, Description: "The transactional operation is not allowed in the transaction's current state."}
	ErrInvalidProducerIDMapping               = &Error{Code: 49, Name: "INVALID_PRODUCER_ID_MAPPING", Retriable: false, Description: "The producer id is not the one currently assigned to this transactional id."}
	ErrInvalidTransactionTimeout              = &Error{Code: 50, Name: "INVALID_TRANSACTION_TIMEOUT", Retriable: false, Description: "The transaction timeout exceeds the broker's transaction.max.timeout.ms."}
	ErrConcurrentTransactions                 = &Error{Code: 51, Name: "CONCURRENT_TRANSACTIONS", Retriable: true, Description: "Another operation on the same transaction is still in progress."}
	ErrTransactionCoordinatorFenced           = &Error{Code: 52, Name: "TRANSACTION_COORDINATOR_FENCED", Retriable: false, Description: "The transaction coordinator that sent the marker is no longer the current one."}
	ErrTransactionalIDAuthorizationFailed     = &Error{Code: 53, Name: "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", Retriable: false, Description: "The client is not authorized to use this transactional id."}
	ErrSecurityDisabled                       = &Error{Code: 54, Name: "SECURITY_DISABLED", Retriable: false, Description: "Security features are disabled on the broker."}
	ErrOperationNotAttempted                  = &Error{Code: 55, Name: "OPERATION_NOT_ATTEMPTED", Retriable: false, Description: "The broker skipped this operation because another part of the batched request failed."}
	ErrKafkaStorageError                      = &Error{Code: 56, Name: "KAFKA_STORAGE_ERROR", Retriable: true, Description: "The broker hit a disk error while accessing the log."}
	ErrLogDirNotFound                         = &Error{Code: 57, Name: "LOG_DIR_NOT_FOUND", Retriable: false, Description: "The requested log directory does not exist in the broker configuration."}
	ErrSaslAuthenticationFailed               = &Error{Code: 58, Name: "SASL_AUTHENTICATION_FAILED", Retriable: false, Description: "SASL authentication failed."}
	ErrUnknownProducerID                      = &Error{Code: 59, Name: "UNKNOWN_PRODUCER_ID", Retriable: false, Description: "The broker has no state for this producer id, for example because its records were removed by retention."}
	ErrReassignmentInProgress                 = &Error{Code: 60, Name: "REASSIGNMENT_IN_PROGRESS", Retriable: false, Description: "A partition reassignment is in progress."}
	ErrDelegationTokenAuthDisabled            = &Error{Code: 61, Name: "DELEGATION_TOKEN_AUTH_DISABLED", Retriable: false, Description: "Delegation token authentication is not enabled."}
	ErrDelegationTokenNotFound                = &Error{Code: 62, Name: "DELEGATION_TOKEN_NOT_FOUND", Retriable: false, Description: "The delegation token was not found."}
	ErrDelegationTokenOwnerMismatch           = &Error{Code: 63, Name: "DELEGATION_TOKEN_OWNER_MISMATCH", Retriable: false, Description: "The principal is not the owner or a renewer of the delegation token."}
	ErrDelegationTokenRequestNotAllowed       = &Error{Code: 64, Name: "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", Retriable: false, Description: "Delegation token requests are not allowed on this kind of connection."}
	ErrDelegationTokenAuthorizationFailed     = &Error{Code: 65, Name: "DELEGATION_TOKEN_AUTHORIZATION_FAILED", Retriable: false, Description: "The client is not authorized for this delegation token operation."}
	ErrDelegationTokenExpired                 = &Error{Code: 66, Name: "DELEGATION_TOKEN_EXPIRED", Retriable: false, Description: "The delegation token has expired."}
	ErrInvalidPrincipalType                   = &Error{Code: 67, Name: "INVALID_PRINCIPAL_TYPE", Retriable: false, Description: "The principal type is not supported."}
	ErrNonEmptyGroup                          = &Error{Code: 68, Name: "NON_EMPTY_GROUP", Retriable: false, Description: "The group still has members."}
	ErrGroupIDNotFound                        = &Error{Code: 69, Name: "GROUP_ID_NOT_FOUND", Retriable: false, Description: "The group does not exist."}
	ErrFetchSessionIDNotFound                 = &Error{Code: 70, Name: "FETCH_SESSION_ID_NOT_FOUND", Retriable: true, Description: "The fetch session id is not known to the broker."}
	ErrInvalidFetchSessionEpoch               = &Error{Code: 71, Name: "INVALID_FETCH_SESSION_EPOCH", Retriable: true, Description: "The fetch session epoch is not valid."}
	ErrListenerNotFound                       = &Error{Code: 72, Name: "LISTENER_NOT_FOUND", Retriable: true, Description: "The leader has no listener matching the one the metadata request came in on."}
	ErrTopicDeletionDisabled                  = &Error{Code: 73, Name: "TOPIC_DELETION_DISABLED", Retriable: false, Description: "Topic deletion is disabled on the cluster."}
	ErrFencedLeaderEpoch                      = &Error{Code: 74, Name: "FENCED_LEADER_EPOCH", Retriable: true, Description: "The leader epoch in the request is older than the broker's."}
	ErrUnknownLeaderEpoch                     = &Error{Code: 75, Name: "UNKNOWN_LEADER_EPOCH", Retriable: true, Description: "The leader epoch in the request is newer than the broker's."}
	ErrUnsupportedCompressionType             = &Error{Code: 76, Name: "UNSUPPORTED_COMPRESSION_TYPE", Retriable: false, Description: "The compression type is not supported for this request or client version."}
	ErrStaleBrokerEpoch                       = &Error{Code: 77, Name: "STALE_BROKER_EPOCH", Retriable: false, Description: "The broker epoch in the request is out of date."}
	ErrOffsetNotAvailable                     = &Error{Code: 78, Name: "OFFSET_NOT_AVAILABLE", Retriable: true, Description: "The new leader's high watermark has not caught up yet, so the offset cannot be served."}
	ErrMemberIDRequired                       = &Error{Code: 79, Name: "MEMBER_ID_REQUIRED", Retriable: false, Description: "The member must obtain a member id before joining the group."}
	ErrPreferredLeaderNotAvailable            = &Error{Code: 80, Name: "PREFERRED_LEADER_NOT_AVAILABLE", Retriable: true, Description: "The preferred leader is not available."}
	ErrGroupMaxSizeReached                    = &Error{Code: 81, Name: "GROUP_MAX_SIZE_REACHED", Retriable: false, Description: "The group already has its maximum number of members."}
	ErrFencedInstanceID                       = &Error{Code: 82, Name: "FENCED_INSTANCE_ID", Retriable: false, Description: "Another member registered with the same group.instance.id."}
	ErrEligibleLeadersNotAvailable            = &Error{Code: 83, Name: "ELIGIBLE_LEADERS_NOT_AVAILABLE", Retriable: true, Description: "No eligible leader is available for the partition."}
	ErrElectionNotNeeded                      = &Error{Code: 84, Name: "ELECTION_NOT_NEEDED", Retriable: true, Description: "The partition does not need a leader election."}
	ErrNoReassignmentInProgress               = &Error{Code: 85, Name: "NO_REASSIGNMENT_IN_PROGRESS", Retriable: false, Description: "No partition reassignment is in progress."}
	ErrGroupSubscribedToTopic                 = &Error{Code: 86, Name: "GROUP_SUBSCRIBED_TO_TOPIC", Retriable: false, Description: "Offsets of a topic cannot be deleted while the group is subscribed to it."}
	ErrInvalidRecord                          = &Error{Code: 87, Name: "INVALID_RECORD", Retriable: false, Description: "The broker rejected a record that failed its validation."}
	ErrUnstableOffsetCommit                   = &Error{Code: 88, Name: "UNSTABLE_OFFSET_COMMIT", Retriable: true, Description: "There are pending offset commits that must be resolved first."}
	ErrThrottlingQuotaExceeded                = &Error{Code: 89, Name: "THROTTLING_QUOTA_EXCEEDED", Retriable: true, Description: "The client exceeded its throttling quota."}
	ErrProducerFenced                         = &Error{Code: 90, Name: "PRODUCER_FENCED", Retriable: false, Description: "A newer producer with the same transactional id has fenced this one."}
	ErrResourceNotFound                       = &Error{Code: 91, Name: "RESOURCE_NOT_FOUND", Retriable: false, Description: "The request referred to a resource that does not exist."}
	ErrDuplicateResource                      = &Error{Code: 92, Name: "DUPLICATE_RESOURCE", Retriable: false, Description: "The request referred to the same resource more than once."}
	ErrUnacceptableCredential                 = &Error{Code: 93, Name: "UNACCEPTABLE_CREDENTIAL", Retriable: false, Description: "The requested credential does not meet the acceptance criteria."}
	ErrInconsistentVoterSet                   = &Error{Code: 94, Name: "INCONSISTENT_VOTER_SET", Retriable: false, Description: "The sender or receiver of a voter request is not one of the expected voters."}
	ErrInvalidUpdateVersion                   = &Error{Code: 95, Name: "INVALID_UPDATE_VERSION", Retriable: false, Description: "The update version is not valid."}
	ErrFeatureUpdateFailed                    = &Error{Code: 96, Name: "FEATURE_UPDATE_FAILED", Retriable: false, Description: "The finalized features could not be updated because of a server error."}
	ErrPrincipalDeserializationFailure        = &Error{Code: 97, Name: "PRINCIPAL_DESERIALIZATION_FAILURE", Retriable: false, Description: "The forwarded request's principal could not be deserialized."}
	ErrSnapshotNotFound                       = &Error{Code: 98, Name: "SNAPSHOT_NOT_FOUND", Retriable: false, Description: "The requested snapshot does not exist."}
	ErrPositionOutOfRange                     = &Error{Code: 99, Name: "POSITION_OUT_OF_RANGE", Retriable: false, Description: "The requested position is outside the snapshot."}
	ErrUnknownTopicID                         = &Error{Code: 100, Name: "UNKNOWN_TOPIC_ID", Retriable: true, Description: "The broker does not host a topic with this id."}
	ErrDuplicateBrokerRegistration            = &Error{Code: 101, Name: "DUPLICATE_BROKER_REGISTRATION", Retriable: false, Description: "This broker id is already registered."}
	ErrBrokerIDNotRegistered                  = &Error{Code: 102, Name: "BROKER_ID_NOT_REGISTERED", Retriable: false, Description: "This broker id is not registered."}
	ErrInconsistentTopicID                    = &Error{Code: 103, Name: "INCONSISTENT_TOPIC_ID", Retriable: true, Description: "The topic id in the request does not match the log's topic id."}
	ErrInconsistentClusterID                  = &Error{Code: 104, Name: "INCONSISTENT_CLUSTER_ID", Retriable: false, Description: "The cluster id in the request does not match the server's."}
	ErrTransactionalIDNotFound                = &Error{Code: 105, Name: "TRANSACTIONAL_ID_NOT_FOUND", Retriable: false, Description: "The transactional id does not exist."}
	ErrFetchSessionTopicIDError               = &Error{Code: 106, Name: "FETCH_SESSION_TOPIC_ID_ERROR", Retriable: true, Description: "The fetch session used topic ids inconsistently."}
	ErrIneligibleReplica                      = &Error{Code: 107, Name: "INELIGIBLE_REPLICA", Retriable: false, Description: "The proposed ISR contains an ineligible replica."}
	ErrNewLeaderElected                       = &Error{Code: 108, Name: "NEW_LEADER_ELECTED", Retriable: false, Description: "The partition state was updated but a new leader was elected."}
	ErrOffsetMovedToTieredStorage             = &Error{Code: 109, Name: "OFFSET_MOVED_TO_TIERED_STORAGE", Retriable: false, Description: "The requested offset now lives in tiered storage."}
	ErrFencedMemberEpoch                      = &Error{Code: 110, Name: "FENCED_MEMBER_EPOCH", Retriable: false, Description: "The member epoch is fenced; the member must give up its partitions and rejoin."}
	ErrUnreleasedInstanceID                   = &Error{Code: 111, Name: "UNRELEASED_INSTANCE_ID", Retriable: false, Description: "Another member still holds this instance id."}
	ErrUnsupportedAssignor                    = &Error{Code: 112, Name: "UNSUPPORTED_ASSIGNOR", Retriable: false, Description: "The group does not support this assignor or assignor version."}
	ErrStaleMemberEpoch                       = &Error{Code: 113, Name: "STALE_MEMBER_EPOCH", Retriable: false, Description: "The member epoch is stale; the member must retry with its current epoch."}
	ErrMismatchedEndpointType                 = &Error{Code: 114, Name: "MISMATCHED_ENDPOINT_TYPE", Retriable: false, Description: "The request reached an endpoint of the wrong type."}
	ErrUnsupportedEndpointType                = &Error{Code: 115, Name: "UNSUPPORTED_ENDPOINT_TYPE", Retriable: false, Description: "This endpoint type is not supported."}
	ErrUnknownControllerID                    = &Error{Code: 116, Name: "UNKNOWN_CONTROLLER_ID", Retriable: false, Description: "The controller id is not known."}
	ErrUnknownSubscriptionID                  = &Error{Code: 117, Name: "UNKNOWN_SUBSCRIPTION_ID", Retriable: false, Description: "The telemetry subscription id is unknown or out of date."}
	ErrTelemetryTooLarge                      = &Error{Code: 118, Name: "TELEMETRY_TOO_LARGE", Retriable: false, Description: "The telemetry push is larger than the broker accepts."}
	ErrInvalidRegistration                    = &Error{Code: 119, Name: "INVALID_REGISTRATION", Retriable: false, Description: "The controller considers the broker registration invalid."}
	ErrTransactionAbortable                   = &Error{Code: 120, Name: "TRANSACTION_ABORTABLE", Retriable: false, Description: "The transaction hit an error; abort it to keep using the transactional id."}
	ErrInvalidRecordState                     = &Error{Code: 121, Name: "INVALID_RECORD_STATE", Retriable: false, Description: "The record is in a state that does not allow this acknowledgement."}
	ErrShareSessionNotFound                   = &Error{Code: 122, Name: "SHARE_SESSION_NOT_FOUND", Retriable: true, Description: "The share session does not exist."}
	ErrInvalidShareSessionEpoch               = &Error{Code: 123, Name: "INVALID_SHARE_SESSION_EPOCH", Retriable: true, Description: "The share session epoch is not valid."}
	ErrFencedStateEpoch                       = &Error{Code: 124, Name: "FENCED_STATE_EPOCH", Retriable: false, Description: "The state epoch in the request does not match the coordinator's."}
	ErrInvalidVoterKey                        = &Error{Code: 125, Name: "INVALID_VOTER_KEY", Retriable: false, Description: "The voter key does not match the receiving replica's."}
	ErrDuplicateVoter                         = &Error{Code: 126, Name: "DUPLICATE_VOTER", Retriable: false, Description: "The voter is already in the voter set."}
	ErrVoterNotFound                          = &Error{Code: 127, Name: "VOTER_NOT_FOUND", Retriable: false, Description: "The voter is not in the voter set."}
	ErrInvalidRegularExpression               = &Error{Code: 128, Name: "INVALID_REGULAR_EXPRESSION", Retriable: false, Description: "The regular expression is not valid."}
	ErrRebootstrapRequired                    = &Error{Code: 129, Name: "REBOOTSTRAP_REQUIRED", Retriable: false, Description: "The client's metadata is stale; it must rebootstrap."}
	ErrStreamsInvalidTopology                 = &Error{Code: 130, Name: "STREAMS_INVALID_TOPOLOGY", Retriable: false, Description: "The Streams topology is not valid."}
	ErrStreamsInvalidTopologyEpoch            = &Error{Code: 131, Name: "STREAMS_INVALID_TOPOLOGY_EPOCH", Retriable: false, Description: "The Streams topology epoch is not valid."}
	ErrStreamsTopologyFenced                  = &Error{Code: 132, Name: "STREAMS_TOPOLOGY_FENCED", Retriable: false, Description: "The Streams topology epoch is out of date."}
	ErrShareSessionLimitReached               = &Error{Code: 133, Name: "SHARE_SESSION_LIMIT_REACHED", Retriable: true, Description: "The broker already has its maximum number of share sessions."}
	ErrGroupDeletionFailed                    = &Error{Code: 134, Name: "GROUP_DELETION_FAILED", Retriable: false, Description: "The group could not be deleted; the per-group error message gives the cause."}
	ErrStreamsTopologyDescriptionUpdateFailed = &Error{Code: 135, Name: "STREAMS_TOPOLOGY_DESCRIPTION_UPDATE_FAILED", Retriable: false, Description: "The broker could not update the Streams topology description."}
	ErrControllerIDNotRegistered              = &Error{Code: 136, Name: "CONTROLLER_ID_NOT_REGISTERED", Retriable: false, Description: "The controller id is not registered."}
)

// knownErrors lists every shared *Error, in code order.
var knownErrors = [...]*Error{
	ErrUnknownServerError,
	ErrOffsetOutOfRange,
	ErrCorruptMessage,
	ErrUnknownTopicOrPartition,
	ErrInvalidFetchSize,
	ErrLeaderNotAvailable,
	ErrNotLeaderOrFollower,
	ErrRequestTimedOut,
	ErrBrokerNotAvailable,
	ErrReplicaNotAvailable,
	ErrMessageTooLarge,
	ErrStaleControllerEpoch,
	ErrOffsetMetadataTooLarge,
	ErrNetworkException,
	ErrCoordinatorLoadInProgress,
	ErrCoordinatorNotAvailable,
	ErrNotCoordinator,
	ErrInvalidTopicException,
	ErrRecordListTooLarge,
	ErrNotEnoughReplicas,
	ErrNotEnoughReplicasAfterAppend,
	ErrInvalidRequiredAcks,
	ErrIllegalGeneration,
	ErrInconsistentGroupProtocol,
	ErrInvalidGroupID,
	ErrUnknownMemberID,
	ErrInvalidSessionTimeout,
	ErrRebalanceInProgress,
	ErrInvalidCommitOffsetSize,
	ErrTopicAuthorizationFailed,
	ErrGroupAuthorizationFailed,
	ErrClusterAuthorizationFailed,
	ErrInvalidTimestamp,
	ErrUnsupportedSaslMechanism,
	ErrIllegalSaslState,
	ErrUnsupportedVersionCode,
	ErrTopicAlreadyExists,
	ErrInvalidPartitions,
	ErrInvalidReplicationFactor,
	ErrInvalidReplicaAssignment,
	ErrInvalidConfig,
	ErrNotController,
	ErrInvalidRequest,
	ErrUnsupportedForMessageFormat,
	ErrPolicyViolation,
	ErrOutOfOrderSequenceNumber,
	ErrDuplicateSequenceNumber,
	ErrInvalidProducerEpoch,
	ErrInvalidTxnState,
	ErrInvalidProducerIDMapping,
	ErrInvalidTransactionTimeout,
	ErrConcurrentTransactions,
	ErrTransactionCoordinatorFenced,
	ErrTransactionalIDAuthorizationFailed,
	ErrSecurityDisabled,
	ErrOperationNotAttempted,
	ErrKafkaStorageError,
	ErrLogDirNotFound,
	ErrSaslAuthenticationFailed,
	ErrUnknownProducerID,
	ErrReassignmentInProgress,
	ErrDelegationTokenAuthDisabled,
	ErrDelegationTokenNotFound,
	ErrDelegationTokenOwnerMismatch,
	ErrDelegationTokenRequestNotAllowed,
	ErrDelegationTokenAuthorizationFailed,
	ErrDelegationTokenExpired,
	ErrInvalidPrincipalType,
	ErrNonEmptyGroup,
	ErrGroupIDNotFound,
	ErrFetchSessionIDNotFound,
	ErrInvalidFetchSessionEpoch,
	ErrListenerNotFound,
	ErrTopicDeletionDisabled,
	ErrFencedLeaderEpoch,
	ErrUnknownLeaderEpoch,
	ErrUnsupportedCompressionType,
	ErrStaleBrokerEpoch,
	ErrOffsetNotAvailable,
	ErrMemberIDRequired,
	ErrPreferredLeaderNotAvailable,
	ErrGroupMaxSizeReached,
	ErrFencedInstanceID,
	ErrEligibleLeadersNotAvailable,
	ErrElectionNotNeeded,
	ErrNoReassignmentInProgress,
	ErrGroupSubscribedToTopic,
	ErrInvalidRecord,
	ErrUnstableOffsetCommit,
	ErrThrottlingQuotaExceeded,
	ErrProducerFenced,
	ErrResourceNotFound,
	ErrDuplicateResource,
	ErrUnacceptableCredential,
	ErrInconsistentVoterSet,
	ErrInvalidUpdateVersion,
	ErrFeatureUpdateFailed,
	ErrPrincipalDeserializationFailure,
	ErrSnapshotNotFound,
	ErrPositionOutOfRange,
	ErrUnknownTopicID,
	ErrDuplicateBrokerRegistration,
	ErrBrokerIDNotRegistered,
	ErrInconsistentTopicID,
	ErrInconsistentClusterID,
	ErrTransactionalIDNotFound,
	ErrFetchSessionTopicIDError,
	ErrIneligibleReplica,
	ErrNewLeaderElected,
	ErrOffsetMovedToTieredStorage,
	ErrFencedMemberEpoch,
	ErrUnreleasedInstanceID,
	ErrUnsupportedAssignor,
	ErrStaleMemberEpoch,
	ErrMismatchedEndpointType,
	ErrUnsupportedEndpointType,
	ErrUnknownControllerID,
	ErrUnknownSubscriptionID,
	ErrTelemetryTooLarge,
	ErrInvalidRegistration,
	ErrTransactionAbortable,
	ErrInvalidRecordState,
	ErrShareSessionNotFound,
	ErrInvalidShareSessionEpoch,
	ErrFencedStateEpoch,
	ErrInvalidVoterKey,
	ErrDuplicateVoter,
	ErrVoterNotFound,
	ErrInvalidRegularExpression,
	ErrRebootstrapRequired,
	ErrStreamsInvalidTopology,
	ErrStreamsInvalidTopologyEpoch,
	ErrStreamsTopologyFenced,
	ErrShareSessionLimitReached,
	ErrGroupDeletionFailed,
	ErrStreamsTopologyDescriptionUpdateFailed,
	ErrControllerIDNotRegistered,
}

// errorsByCode maps code+1 to its shared *Error (index 1, code 0, stays nil).
var errorsByCode = func() (t [maxKnownCode + 2]*Error) {
	for _, e := range knownErrors {
		t[int(e.Code)+1] = e
	}
	return t
}()

// maxKnownCode is the highest code in knownErrors.
const maxKnownCode = 136

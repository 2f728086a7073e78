package actors

import (
	"errors"
	"fmt"
	"testing"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

func TestClassify(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("%w (t-0: broker said so)", err) }
	for _, tc := range []struct {
		name string
		err  error
		want outcome
	}{
		{"success", nil, outcome{}},
		{"connection lost", fmt.Errorf("%w: read from b:9092: EOF", messages.ErrConnection), outcome{retry: true, maybeWritten: true, refreshMetadata: true}},
		{"no answer in time", fmt.Errorf("%w: no Produce response", messages.ErrRequestTimeout), outcome{retry: true, maybeWritten: true, refreshMetadata: true}},
		{"not sent: sender restarted", errNotSent, outcome{retry: true, maybeWritten: true, refreshMetadata: true}},
		{"NOT_LEADER_OR_FOLLOWER", wrap(wire.ErrNotLeaderOrFollower), outcome{retry: true, refreshMetadata: true}},
		{"UNKNOWN_TOPIC_OR_PARTITION", wrap(wire.ErrUnknownTopicOrPartition), outcome{retry: true, refreshMetadata: true}},
		{"FENCED_LEADER_EPOCH", wrap(wire.ErrFencedLeaderEpoch), outcome{retry: true, refreshMetadata: true}},
		{"KAFKA_STORAGE_ERROR", wrap(wire.ErrKafkaStorageError), outcome{retry: true, refreshMetadata: true}},
		{"NOT_ENOUGH_REPLICAS", wrap(wire.ErrNotEnoughReplicas), outcome{retry: true}},
		{"REQUEST_TIMED_OUT", wrap(wire.ErrRequestTimedOut), outcome{retry: true, maybeWritten: true}},
		{"NOT_ENOUGH_REPLICAS_AFTER_APPEND", wrap(wire.ErrNotEnoughReplicasAfterAppend), outcome{retry: true, maybeWritten: true}},
		{"MESSAGE_TOO_LARGE", wrap(wire.ErrMessageTooLarge), outcome{tooLarge: true}},
		{"TOPIC_AUTHORIZATION_FAILED", wrap(wire.ErrTopicAuthorizationFailed), outcome{}},
		{"CLUSTER_AUTHORIZATION_FAILED", wrap(wire.ErrClusterAuthorizationFailed), outcome{fatal: true}},
		{"PRODUCER_FENCED", wrap(wire.ErrProducerFenced), outcome{fatal: true}},
		{"TRANSACTIONAL_ID_AUTHORIZATION_FAILED", wrap(wire.ErrTransactionalIDAuthorizationFailed), outcome{fatal: true}},
		{"UNSUPPORTED_VERSION from the broker", wrap(wire.ErrUnsupportedVersionCode), outcome{fatal: true}},
		{"no common version", fmt.Errorf("%w: Produce", wire.ErrUnsupportedVersion), outcome{fatal: true}},
		{"OUT_OF_ORDER_SEQUENCE_NUMBER (sequences decide)", wrap(wire.ErrOutOfOrderSequenceNumber), outcome{}},
		{"an unknown code", wire.ErrorForCode(9999), outcome{}},
		{"our own error", errors.New("kastor: produce response did not mention the partition"), outcome{maybeWritten: true}},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("%s: classify = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

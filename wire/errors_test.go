package wire

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestErrorCodesRoundTrip(t *testing.T) {
	if len(knownErrors) != maxKnownCode+1 { // -1 and 1..maxKnownCode
		t.Fatalf("%d known errors, want %d (every code from -1 to %d except 0)", len(knownErrors), maxKnownCode+1, maxKnownCode)
	}
	for code := int16(-1); code <= maxKnownCode; code++ {
		err := ErrorForCode(code)
		if code == 0 {
			if err != nil {
				t.Fatalf("ErrorForCode(0) = %v, want nil", err)
			}
			continue
		}
		e, ok := err.(*Error)
		if !ok || e == nil {
			t.Fatalf("ErrorForCode(%d) = %#v, want a *Error", code, err)
		}
		if e.Code != code {
			t.Errorf("ErrorForCode(%d).Code = %d", code, e.Code)
		}
		if strings.HasPrefix(e.Name, "UNKNOWN_ERROR_CODE_") {
			t.Errorf("code %d is not known", code)
		}
		if e.Description == "" || !strings.HasSuffix(e.Description, ".") {
			t.Errorf("code %d (%s): description %q should be a sentence", code, e.Name, e.Description)
		}
		if ErrorForCode(code) != err {
			t.Errorf("code %d: ErrorForCode returns a different pointer each time", code)
		}
	}
}

func TestErrorNamesAndCodesUnique(t *testing.T) {
	names := map[string]int16{}
	codes := map[int16]string{}
	for i, e := range knownErrors {
		if i > 0 && e.Code <= knownErrors[i-1].Code {
			t.Errorf("knownErrors not in code order at %s (%d)", e.Name, e.Code)
		}
		if other, dup := names[e.Name]; dup {
			t.Errorf("name %s used by codes %d and %d", e.Name, other, e.Code)
		}
		if other, dup := codes[e.Code]; dup {
			t.Errorf("code %d used by %s and %s", e.Code, other, e.Name)
		}
		names[e.Name] = e.Code
		codes[e.Code] = e.Name
		if e.Name != strings.ToUpper(e.Name) || strings.ContainsAny(e.Name, " -") {
			t.Errorf("name %q is not in the protocol's UPPER_SNAKE form", e.Name)
		}
	}
}

func TestErrorSpotChecks(t *testing.T) {
	for _, c := range []struct {
		err  *Error
		code int16
		name string
	}{
		{ErrUnknownServerError, -1, "UNKNOWN_SERVER_ERROR"},
		{ErrOffsetOutOfRange, 1, "OFFSET_OUT_OF_RANGE"},
		{ErrCorruptMessage, 2, "CORRUPT_MESSAGE"},
		{ErrUnknownTopicOrPartition, 3, "UNKNOWN_TOPIC_OR_PARTITION"},
		{ErrNotLeaderOrFollower, 6, "NOT_LEADER_OR_FOLLOWER"},
		{ErrRequestTimedOut, 7, "REQUEST_TIMED_OUT"},
		{ErrMessageTooLarge, 10, "MESSAGE_TOO_LARGE"},
		{ErrNetworkException, 13, "NETWORK_EXCEPTION"},
		{ErrNotEnoughReplicas, 19, "NOT_ENOUGH_REPLICAS"},
		{ErrNotEnoughReplicasAfterAppend, 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND"},
		{ErrTopicAuthorizationFailed, 29, "TOPIC_AUTHORIZATION_FAILED"},
		{ErrUnsupportedVersionCode, 35, "UNSUPPORTED_VERSION"},
		{ErrOutOfOrderSequenceNumber, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER"},
		{ErrDuplicateSequenceNumber, 46, "DUPLICATE_SEQUENCE_NUMBER"},
		{ErrInvalidProducerEpoch, 47, "INVALID_PRODUCER_EPOCH"},
		{ErrKafkaStorageError, 56, "KAFKA_STORAGE_ERROR"},
		{ErrUnknownProducerID, 59, "UNKNOWN_PRODUCER_ID"},
		{ErrInvalidRecord, 87, "INVALID_RECORD"},
		{ErrProducerFenced, 90, "PRODUCER_FENCED"},
		{ErrUnknownTopicID, 100, "UNKNOWN_TOPIC_ID"},
		{ErrTransactionAbortable, 120, "TRANSACTION_ABORTABLE"},
		{ErrShareSessionLimitReached, 133, "SHARE_SESSION_LIMIT_REACHED"},
	} {
		if c.err.Code != c.code || c.err.Name != c.name {
			t.Errorf("got %d %s, want %d %s", c.err.Code, c.err.Name, c.code, c.name)
		}
	}
	want := "NOT_LEADER_OR_FOLLOWER: This server is not the leader for that topic-partition."
	if got := ErrNotLeaderOrFollower.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestErrorRetriable(t *testing.T) {
	retriable := []*Error{
		ErrCorruptMessage, ErrUnknownTopicOrPartition, ErrLeaderNotAvailable, ErrNotLeaderOrFollower,
		ErrRequestTimedOut, ErrReplicaNotAvailable, ErrNetworkException, ErrCoordinatorLoadInProgress,
		ErrCoordinatorNotAvailable, ErrNotCoordinator, ErrNotEnoughReplicas, ErrNotEnoughReplicasAfterAppend,
		ErrNotController, ErrKafkaStorageError, ErrFencedLeaderEpoch, ErrUnknownLeaderEpoch,
		ErrOffsetNotAvailable, ErrThrottlingQuotaExceeded, ErrUnknownTopicID, ErrConcurrentTransactions,
	}
	for _, e := range retriable {
		if !e.Retriable || !IsRetriable(e) {
			t.Errorf("%s should be retriable", e.Name)
		}
		if !IsRetriable(fmt.Errorf("produce t-0: %w", e)) {
			t.Errorf("wrapped %s should be retriable", e.Name)
		}
	}
	fatal := []*Error{
		ErrUnknownServerError, ErrOffsetOutOfRange, ErrBrokerNotAvailable, ErrMessageTooLarge,
		ErrRecordListTooLarge, ErrInvalidRequiredAcks, ErrTopicAuthorizationFailed,
		ErrClusterAuthorizationFailed, ErrInvalidTimestamp, ErrUnsupportedVersionCode, ErrInvalidRequest,
		ErrOutOfOrderSequenceNumber, ErrDuplicateSequenceNumber, ErrInvalidProducerEpoch,
		ErrTransactionalIDAuthorizationFailed, ErrUnknownProducerID, ErrInvalidRecord, ErrProducerFenced,
		ErrTransactionAbortable,
	}
	for _, e := range fatal {
		if e.Retriable || IsRetriable(e) {
			t.Errorf("%s should not be retriable", e.Name)
		}
	}
	if IsRetriable(nil) || IsRetriable(errors.New("plain")) {
		t.Error("IsRetriable is true for a non-Kafka error")
	}
	if IsRetriable(ErrorForCode(30000)) {
		t.Error("unknown codes should not be retriable")
	}
}

func TestErrorIsThroughWrapping(t *testing.T) {
	err := fmt.Errorf("produce t-0: %w", ErrorForCode(6))
	if !errors.Is(err, ErrNotLeaderOrFollower) {
		t.Fatal("errors.Is through %w failed")
	}
	if errors.Is(err, ErrLeaderNotAvailable) {
		t.Fatal("errors.Is matched the wrong code")
	}
	err = fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", errors.Join(errors.New("x"), ErrMessageTooLarge)))
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatal("errors.Is through two wraps and a join failed")
	}
	e, ok := errors.AsType[*Error](err)
	if !ok || e != ErrMessageTooLarge {
		t.Fatalf("errors.AsType = %v, %v", e, ok)
	}
}

func TestErrorUnknownCode(t *testing.T) {
	for _, code := range []int16{maxKnownCode + 1, 999, 32767, -2, -32768} {
		err := ErrorForCode(code)
		e, ok := err.(*Error)
		if !ok || e == nil {
			t.Fatalf("ErrorForCode(%d) = %#v", code, err)
		}
		want := fmt.Sprintf("UNKNOWN_ERROR_CODE_%d", code)
		if e.Code != code || e.Name != want || e.Retriable {
			t.Errorf("ErrorForCode(%d) = %+v", code, e)
		}
		if e.Error() != want {
			t.Errorf("Error() = %q, want %q", e.Error(), want)
		}
		if !errors.Is(fmt.Errorf("w: %w", err), ErrorForCode(code)) {
			t.Errorf("two errors for unknown code %d do not match", code)
		}
		if errors.Is(err, ErrUnknownServerError) {
			t.Errorf("unknown code %d matches UNKNOWN_SERVER_ERROR", code)
		}
	}
	// ErrorForCode returns a plain nil for NONE, never a typed nil.
	var err error = ErrorForCode(0)
	if err != nil {
		t.Fatal("ErrorForCode(0) is not a nil error")
	}
}

// TestErrorsAgreeWithKerr cross-checks names, codes and retriability against franz-go's kerr, an
// independent transcription of Kafka's Errors.java. The known differences are deliberate.
func TestErrorsAgreeWithKerr(t *testing.T) {
	renamed := map[int16]bool{6: true} // kerr keeps the pre-2.7 name NOT_LEADER_FOR_PARTITION
	// kerr's flag differs from the Java 4.x exception hierarchy for these codes.
	retriableDiffers := map[int16]bool{8: true, 51: true, 122: true, 123: true}
	for _, e := range knownErrors {
		k, ok := kerr.ErrorForCode(e.Code).(*kerr.Error)
		if !ok || (k == kerr.UnknownServerError && e.Code != -1) {
			t.Logf("kerr does not know code %d (%s)", e.Code, e.Name)
			continue
		}
		if k.Code != e.Code {
			t.Errorf("code %d: kerr code %d", e.Code, k.Code)
		}
		if k.Message != e.Name && !renamed[e.Code] {
			t.Errorf("code %d: name %s, kerr %s", e.Code, e.Name, k.Message)
		}
		if (k.Retriable != e.Retriable) != retriableDiffers[e.Code] {
			t.Errorf("code %d (%s): retriable %v, kerr %v", e.Code, e.Name, e.Retriable, k.Retriable)
		}
	}
}

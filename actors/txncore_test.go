package actors

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// The transaction core is driven as its actor would drive it, with a manual clock and no actor
// system: each step checks the effects it returns, and answers are fed back as txnAnswered.

const (
	txnTestBackoff    = 100 * time.Millisecond
	txnTestBackoffMax = time.Second
)

type txnScript struct {
	t   *testing.T
	c   *txnCore
	now time.Time
}

func newTxnScript(t *testing.T, v2 bool) *txnScript {
	c := newTxnCore("txn-a", time.Minute, txnTestBackoff, txnTestBackoffMax)
	s := &txnScript{t: t, c: c, now: time.Unix(1_700_000_000, 0)}
	if v2 {
		s.step(txnFeatures{v2: true})
	}
	return s
}

func (s *txnScript) step(ev txnEvent) txnEffects {
	s.t.Helper()
	return s.c.step(s.now, ev)
}

// sent returns the request e sends, of type T, failing the test otherwise.
func sent[T wire.Request](s *txnScript, e txnEffects) (*txnSend, T) {
	s.t.Helper()
	var zero T
	if e.send == nil {
		s.t.Fatalf("no request sent, want %T: %+v", zero, e)
	}
	req, ok := e.send.req.(T)
	if !ok {
		s.t.Fatalf("sent %T, want %T", e.send.req, zero)
	}
	return e.send, req
}

func (s *txnScript) answer(send *txnSend, resp wire.Response, version int16) txnEffects {
	s.t.Helper()
	return s.step(txnAnswered{seq: send.seq, resp: resp, version: version})
}

func (s *txnScript) answerErr(send *txnSend, err error) txnEffects {
	s.t.Helper()
	return s.step(txnAnswered{seq: send.seq, err: err})
}

// findCoordinator answers the FindCoordinator e sends with node (v4+ batched form).
func (s *txnScript) findCoordinator(e txnEffects, keyType int8, key string, node int32) txnEffects {
	s.t.Helper()
	send, req := sent[*wire.FindCoordinatorRequest](s, e)
	if send.coordinator != nil || req.CoordinatorType != keyType || req.CoordinatorKey != key ||
		!reflect.DeepEqual(req.CoordinatorKeys, []string{key}) {
		s.t.Fatalf("FindCoordinator %+v to %+v, want type %d key %q to any broker", req, send.coordinator, keyType, key)
	}
	return s.answer(send, &wire.FindCoordinatorResponse{Coordinators: []wire.FindCoordinatorResult{
		{Key: "other", NodeID: 99}, {Key: key, NodeID: node, Host: "broker", Port: 9092},
	}}, 6)
}

// toCoordinator checks that e sends a T to node and returns it.
func toCoordinator[T wire.Request](s *txnScript, e txnEffects, node int32) (*txnSend, T) {
	s.t.Helper()
	send, req := sent[T](s, e)
	if send.coordinator == nil || send.coordinator.ID != node {
		s.t.Fatalf("%T sent to %+v, want node %d", req, send.coordinator, node)
	}
	return send, req
}

// initialized runs InitTransactions to Ready with coordinator node 1 and identity 7/0.
func (s *txnScript) initialized() {
	s.t.Helper()
	e := s.step(txnInit{reply: "init"})
	e = s.findCoordinator(e, wire.CoordinatorTypeTransaction, "txn-a", 1)
	send, req := toCoordinator[*wire.InitProducerIDRequest](s, e, 1)
	if req.TransactionalID == nil || *req.TransactionalID != "txn-a" || req.TransactionTimeoutMillis != 60000 ||
		req.ProducerID != -1 || req.ProducerEpoch != -1 {
		s.t.Fatalf("InitProducerId %+v", req)
	}
	e = s.answer(send, &wire.InitProducerIDResponse{ProducerID: 7, ProducerEpoch: 0}, 5)
	if e.identity == nil || *e.identity != (producerIdentity{ID: 7, Epoch: 0, Gen: 1}) {
		s.t.Fatalf("identity %+v", e.identity)
	}
	wantDone(s.t, e, txnDone{"init", nil})
	s.wantState(txnReady)
}

func (s *txnScript) begin() {
	s.t.Helper()
	e := s.step(txnBegin{reply: "begin"})
	if !e.newTransaction {
		s.t.Fatalf("begin: %+v, want newTransaction", e)
	}
	wantDone(s.t, e, txnDone{"begin", nil})
	s.wantState(txnInTransaction)
}

func (s *txnScript) wantState(want txnState) {
	s.t.Helper()
	if s.c.state != want {
		s.t.Fatalf("state %s, want %s", s.c.state, want)
	}
}

// wantDone checks the completions, comparing errors with errors.Is.
func wantDone(t *testing.T, e txnEffects, want ...txnDone) {
	t.Helper()
	if len(e.done) != len(want) {
		t.Fatalf("done %+v, want %+v", e.done, want)
	}
	for i, w := range want {
		d := e.done[i]
		if d.reply != w.reply || (w.err == nil) != (d.err == nil) || (w.err != nil && !errors.Is(d.err, w.err)) {
			t.Fatalf("done[%d] = %+v, want %+v", i, d, w)
		}
	}
}

func wantNoSend(t *testing.T, e txnEffects) {
	t.Helper()
	if e.send != nil {
		t.Fatalf("sent %T, want nothing", e.send.req)
	}
}

func txnTP(topic string, p int32) messages.TopicPartition {
	return messages.TopicPartition{Topic: topic, Partition: p}
}

var testGroup = txnGroupMetadata{GroupID: "g", GenerationID: 4, MemberID: "m-1"}

var testOffsets = []wire.TxnOffsetCommitTopic{{Name: "in", Partitions: []wire.TxnOffsetCommitPartition{{Partition: 0, Offset: 42, LeaderEpoch: -1}}}}

// The classic protocol: partitions and the group's offsets are added to the transaction before
// they are written; commit flushes, then ends the transaction with EndTxn v4 at most.
func TestTxnCoreClassicCommit(t *testing.T) {
	s := newTxnScript(t, false)
	s.initialized()
	s.begin()

	// The first record for a partition adds it; its batches wait until the coordinator agreed.
	e := s.step(txnRecord{txnTP("out", 0)})
	if e.reject != nil || len(e.allow) != 0 {
		t.Fatalf("first record: %+v", e)
	}
	add1, req := toCoordinator[*wire.AddPartitionsToTxnRequest](s, e, 1)
	if req.TransactionalID != "txn-a" || req.ProducerID != 7 || req.ProducerEpoch != 0 ||
		!reflect.DeepEqual(req.Topics, []wire.AddPartitionsToTxnTopic{{Name: "out", Partitions: []int32{0}}}) {
		t.Fatalf("AddPartitionsToTxn %+v", req)
	}
	// One request at a time: partitions met meanwhile go in the next one, each once.
	for _, p := range []messages.TopicPartition{txnTP("out", 1), txnTP("out", 0), txnTP("other", 3), txnTP("out", 1)} {
		if e := s.step(txnRecord{p}); e.send != nil || e.reject != nil || len(e.allow) != 0 {
			t.Fatalf("record %v: %+v", p, e)
		}
	}
	e = s.answer(add1, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0}}},
	}}, 3)
	if !reflect.DeepEqual(e.allow, []messages.TopicPartition{txnTP("out", 0)}) {
		t.Fatalf("allow %v", e.allow)
	}
	add2, req := toCoordinator[*wire.AddPartitionsToTxnRequest](s, e, 1)
	if !reflect.DeepEqual(req.Topics, []wire.AddPartitionsToTxnTopic{{Name: "out", Partitions: []int32{1}}, {Name: "other", Partitions: []int32{3}}}) {
		t.Fatalf("second AddPartitionsToTxn %+v", req.Topics)
	}
	e = s.answer(add2, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 1}}},
		{Name: "other", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 3}}},
	}}, 3)
	if !reflect.DeepEqual(e.allow, []messages.TopicPartition{txnTP("out", 1), txnTP("other", 3)}) {
		t.Fatalf("allow %v", e.allow)
	}
	wantNoSend(t, e)

	// Offsets: AddOffsetsToTxn to the transaction coordinator, then TxnOffsetCommit (v4 at
	// most) to the group's coordinator, found first.
	e = s.step(txnSendOffsets{reply: "offsets", group: testGroup, topics: testOffsets})
	send, ao := toCoordinator[*wire.AddOffsetsToTxnRequest](s, e, 1)
	if ao.GroupID != "g" || ao.ProducerID != 7 {
		t.Fatalf("AddOffsetsToTxn %+v", ao)
	}
	e = s.answer(send, &wire.AddOffsetsToTxnResponse{}, 4)
	wantDone(t, e)
	e = s.findCoordinator(e, wire.CoordinatorTypeGroup, "g", 2)
	send, oc := toCoordinator[*wire.TxnOffsetCommitRequest](s, e, 2)
	if send.maxVersion != wire.TxnOffsetCommitMaxVersionV1 || oc.GroupID != "g" || oc.GenerationID != 4 ||
		oc.MemberID != "m-1" || oc.TransactionalID != "txn-a" || !reflect.DeepEqual(oc.Topics, testOffsets) {
		t.Fatalf("TxnOffsetCommit %+v (max v%d)", oc, send.maxVersion)
	}
	e = s.answer(send, &wire.TxnOffsetCommitResponse{Topics: []wire.TxnOffsetCommitTopicResult{
		{Name: "in", Partitions: []wire.TxnOffsetCommitPartitionResult{{Partition: 0}}},
	}}, 4)
	wantDone(t, e, txnDone{"offsets", nil})

	// Commit: flush first; EndTxn only once everything sent before completed.
	e = s.step(txnCommit{reply: "commit"})
	if !e.flush || e.abortUndrained != nil {
		t.Fatalf("commit: %+v, want a flush", e)
	}
	wantNoSend(t, e)
	s.wantState(txnCommitting)
	if e := s.step(txnRecord{txnTP("out", 0)}); !errors.Is(e.reject, ErrTransactionState) {
		t.Fatalf("a record while committing: %v", e.reject)
	}
	wantDone(t, s.step(txnCommit{reply: "commit-again"})) // joins the commit under way
	e = s.step(txnFlushed{})
	send, end := toCoordinator[*wire.EndTxnRequest](s, e, 1)
	if !end.Commit || end.ProducerID != 7 || end.ProducerEpoch != 0 || send.maxVersion != wire.EndTxnMaxVersionV1 {
		t.Fatalf("EndTxn %+v (max v%d)", end, send.maxVersion)
	}
	e = s.answer(send, &wire.EndTxnResponse{ProducerID: -1, ProducerEpoch: -1}, 4)
	wantDone(t, e, txnDone{"commit", nil}, txnDone{"commit-again", nil})
	if e.identity != nil {
		t.Fatalf("the classic protocol keeps the epoch: %+v", e.identity)
	}
	s.wantState(txnReady)

	// The next transaction adds its partitions again.
	s.begin()
	if _, req := toCoordinator[*wire.AddPartitionsToTxnRequest](s, s.step(txnRecord{txnTP("out", 0)}), 1); req.Topics[0].Name != "out" {
		t.Fatalf("%+v", req)
	}
}

// Transactions v2: no AddPartitionsToTxn or AddOffsetsToTxn, EndTxn v5 returns the next epoch.
func TestTxnCoreV2Commit(t *testing.T) {
	s := newTxnScript(t, true)
	s.initialized()
	s.begin()
	e := s.step(txnRecord{txnTP("out", 0)})
	wantNoSend(t, e)
	if !reflect.DeepEqual(e.allow, []messages.TopicPartition{txnTP("out", 0)}) {
		t.Fatalf("v2 record: %+v, want the partition allowed at once", e)
	}
	if e := s.step(txnRecord{txnTP("out", 0)}); len(e.allow) != 0 || e.send != nil {
		t.Fatalf("second record: %+v", e)
	}
	e = s.step(txnSendOffsets{reply: "offsets", group: testGroup, topics: testOffsets})
	e = s.findCoordinator(e, wire.CoordinatorTypeGroup, "g", 2)
	send, _ := toCoordinator[*wire.TxnOffsetCommitRequest](s, e, 2)
	if send.maxVersion != -1 {
		t.Fatalf("v2 TxnOffsetCommit capped at v%d", send.maxVersion)
	}
	wantDone(t, s.answer(send, &wire.TxnOffsetCommitResponse{}, 5), txnDone{"offsets", nil})

	e = s.step(txnCommit{reply: "commit"})
	wantNoSend(t, e)
	send, end := toCoordinator[*wire.EndTxnRequest](s, s.step(txnFlushed{}), 1)
	if send.maxVersion != -1 || !end.Commit {
		t.Fatalf("EndTxn %+v max v%d", end, send.maxVersion)
	}
	e = s.answer(send, &wire.EndTxnResponse{ProducerID: 7, ProducerEpoch: 1}, 5)
	if e.identity == nil || *e.identity != (producerIdentity{ID: 7, Epoch: 1, Gen: 2}) {
		t.Fatalf("identity after EndTxn v5: %+v", e.identity)
	}
	wantDone(t, e, txnDone{"commit", nil})
	s.wantState(txnReady)

	// The next transaction stamps the new epoch on its requests.
	s.begin()
	s.step(txnRecord{txnTP("out", 0)})
	s.step(txnCommit{reply: "c2"})
	if _, end := sent[*wire.EndTxnRequest](s, s.step(txnFlushed{})); end.ProducerEpoch != 1 {
		t.Fatalf("EndTxn epoch %d", end.ProducerEpoch)
	}
}

// The protocol is latched when a transaction begins: a feature change applies to the next one.
func TestTxnCoreV2Latched(t *testing.T) {
	s := newTxnScript(t, false)
	s.initialized()
	s.begin()
	s.step(txnFeatures{v2: true})
	if e := s.step(txnRecord{txnTP("out", 0)}); e.send == nil || len(e.allow) != 0 {
		t.Fatalf("classic transaction switched protocol mid-way: %+v", e)
	}
	s.c.state, s.c.queue, s.c.outstanding = txnReady, nil, false // end it out of band
	s.begin()
	if e := s.step(txnRecord{txnTP("out", 0)}); e.send != nil || len(e.allow) != 1 {
		t.Fatalf("next transaction not v2: %+v", e)
	}
}

// Java's rules on what may be called when.
func TestTxnCoreStateRules(t *testing.T) {
	s := newTxnScript(t, false)
	if e := s.step(txnRecord{txnTP("out", 0)}); !errors.Is(e.reject, ErrTransactionState) {
		t.Fatalf("send before init: %v", e.reject)
	}
	for _, ev := range []txnEvent{txnBegin{reply: 1}, txnCommit{reply: 1}, txnAbort{reply: 1}, txnSendOffsets{reply: 1}} {
		wantDone(t, s.step(ev), txnDone{1, ErrTransactionState})
	}
	// InitTransactions called again while it runs joins it.
	e := s.step(txnInit{reply: "a"})
	wantDone(t, s.step(txnInit{reply: "b"}))
	e = s.findCoordinator(e, wire.CoordinatorTypeTransaction, "txn-a", 1)
	send, _ := sent[*wire.InitProducerIDRequest](s, e)
	wantDone(t, s.answer(send, &wire.InitProducerIDResponse{ProducerID: 1}, 5), txnDone{"a", nil}, txnDone{"b", nil})

	wantDone(t, s.step(txnInit{reply: 2}), txnDone{2, ErrTransactionState})
	if e := s.step(txnRecord{txnTP("out", 0)}); !errors.Is(e.reject, ErrTransactionState) {
		t.Fatalf("send outside a transaction: %v", e.reject)
	}
	wantDone(t, s.step(txnCommit{reply: 3}), txnDone{3, ErrTransactionState})
	wantDone(t, s.step(txnAbort{reply: 3}), txnDone{3, ErrTransactionState})
	s.begin()
	wantDone(t, s.step(txnBegin{reply: 4}), txnDone{4, ErrTransactionState})

	// An empty transaction ends without asking the coordinator.
	e = s.step(txnCommit{reply: "empty"})
	wantNoSend(t, e)
	e = s.step(txnFlushed{})
	wantNoSend(t, e)
	wantDone(t, e, txnDone{"empty", nil})
	s.wantState(txnReady)
}

func wantTimer(t *testing.T, s *txnScript, e txnEffects, failures int) *txnTimer {
	t.Helper()
	if e.timer == nil {
		t.Fatalf("no retry timer: %+v", e)
	}
	nominal := txnTestBackoff << (failures - 1)
	if d := e.timer.at.Sub(s.now); d < nominal*8/10 || d > nominal*12/10 {
		t.Fatalf("retry after %v, want %v ±20%%", d, nominal)
	}
	return e.timer
}

// Coordinator moves and retriable errors during a commit are retried; a stale timer does nothing.
func TestTxnCoreCommitRetries(t *testing.T) {
	s := newTxnScript(t, false)
	s.initialized()
	s.begin()
	e := s.step(txnRecord{txnTP("out", 0)})
	send, _ := sent[*wire.AddPartitionsToTxnRequest](s, e)
	s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0}}}}}, 3)
	s.step(txnCommit{reply: "commit"})
	e = s.step(txnFlushed{})
	send, _ = toCoordinator[*wire.EndTxnRequest](s, e, 1)

	// NOT_COORDINATOR: back off, then find the coordinator again.
	e = s.answer(send, &wire.EndTxnResponse{ErrorCode: wire.ErrNotCoordinator.Code}, 4)
	wantNoSend(t, e)
	timer := wantTimer(t, s, e, 1)
	if e := s.step(txnTimerFired{gen: timer.gen - 1}); e.send != nil {
		t.Fatalf("a stale timer sent %T", e.send.req)
	}
	s.now = timer.at
	e = s.findCoordinator(s.step(txnTimerFired{gen: timer.gen}), wire.CoordinatorTypeTransaction, "txn-a", 5)
	send, _ = toCoordinator[*wire.EndTxnRequest](s, e, 5)

	// An answer to an older request is ignored.
	if e := s.step(txnAnswered{seq: send.seq - 1, resp: &wire.EndTxnResponse{}}); len(e.done) != 0 {
		t.Fatalf("stale answer taken: %+v", e)
	}
	// CONCURRENT_TRANSACTIONS: back off longer, same coordinator.
	e = s.answer(send, &wire.EndTxnResponse{ErrorCode: wire.ErrConcurrentTransactions.Code}, 4)
	timer = wantTimer(t, s, e, 2)
	s.now = timer.at
	send, _ = toCoordinator[*wire.EndTxnRequest](s, s.step(txnTimerFired{gen: timer.gen}), 5)

	// A broken connection: find the coordinator again.
	e = s.answerErr(send, fmt.Errorf("%w: reset", messages.ErrConnection))
	timer = wantTimer(t, s, e, 3)
	s.now = timer.at
	e = s.findCoordinator(s.step(txnTimerFired{gen: timer.gen}), wire.CoordinatorTypeTransaction, "txn-a", 6)
	send, _ = toCoordinator[*wire.EndTxnRequest](s, e, 6)
	e = s.answer(send, &wire.EndTxnResponse{}, 4)
	wantDone(t, e, txnDone{"commit", nil})
	s.wantState(txnReady)

	// The backoff starts over after a success.
	s.begin()
	e = s.step(txnRecord{txnTP("out", 1)})
	send, _ = sent[*wire.AddPartitionsToTxnRequest](s, e)
	wantTimer(t, s, s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 1, ErrorCode: wire.ErrCoordinatorLoadInProgress.Code}}}}}, 3), 1)
}

// FindCoordinator retries COORDINATOR_NOT_AVAILABLE; an answer at v0–v3 reads the top-level form.
func TestTxnCoreFindCoordinatorRetries(t *testing.T) {
	s := newTxnScript(t, false)
	e := s.step(txnInit{reply: "init"})
	send, _ := sent[*wire.FindCoordinatorRequest](s, e)
	e = s.answer(send, &wire.FindCoordinatorResponse{ErrorCode: wire.ErrCoordinatorNotAvailable.Code}, 3)
	timer := wantTimer(t, s, e, 1)
	s.now = timer.at
	send, _ = sent[*wire.FindCoordinatorRequest](s, s.step(txnTimerFired{gen: timer.gen}))
	e = s.answer(send, &wire.FindCoordinatorResponse{NodeID: 4, Host: "h", Port: 1}, 2)
	if _, req := toCoordinator[*wire.InitProducerIDRequest](s, e, 4); *req.TransactionalID != "txn-a" {
		t.Fatalf("%+v", req)
	}
	if s.c.txnCoord == nil || *s.c.txnCoord != (txnNode{4, "h", 1}) {
		t.Fatalf("coordinator %+v", s.c.txnCoord)
	}
}

// Fatal errors: the producer fails for good, unsent batches fail with it, and so does every
// later operation; a late answer changes nothing.
func TestTxnCoreFatal(t *testing.T) {
	for _, tc := range []struct {
		name string
		code int16
		err  error // instead of code: the call failed
	}{
		{"PRODUCER_FENCED", wire.ErrProducerFenced.Code, nil},
		{"INVALID_PRODUCER_EPOCH", wire.ErrInvalidProducerEpoch.Code, nil},
		{"TRANSACTIONAL_ID_AUTHORIZATION_FAILED", wire.ErrTransactionalIDAuthorizationFailed.Code, nil},
		{"CLUSTER_AUTHORIZATION_FAILED", wire.ErrClusterAuthorizationFailed.Code, nil},
		{"INVALID_TXN_STATE", wire.ErrInvalidTxnState.Code, nil},
		{"UNSUPPORTED_VERSION", wire.ErrUnsupportedVersionCode.Code, nil},
		{"unexpected code", wire.ErrInvalidRequest.Code, nil},
		{"no common version", 0, fmt.Errorf("%w: AddPartitionsToTxn", wire.ErrUnsupportedVersion)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTxnScript(t, false)
			s.initialized()
			s.begin()
			e := s.step(txnSendOffsets{reply: "offsets", group: testGroup, topics: testOffsets})
			aoSend, _ := sent[*wire.AddOffsetsToTxnRequest](s, e)
			e = s.answer(aoSend, &wire.AddOffsetsToTxnResponse{}, 4)
			s.step(txnRecord{txnTP("out", 0)}) // queued behind the group's FindCoordinator
			var want error = wire.ErrorForCode(tc.code)
			if tc.err != nil {
				want = tc.err
			}
			// The group coordinator is found; the AddPartitionsToTxn goes first (priority).
			e = s.findCoordinator(e, wire.CoordinatorTypeGroup, "g", 2)
			send, _ := toCoordinator[*wire.AddPartitionsToTxnRequest](s, e, 1)
			if tc.err != nil {
				e = s.answerErr(send, tc.err)
			} else {
				e = s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
					{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0, ErrorCode: tc.code}}}}}, 3)
			}
			if !errors.Is(e.fail, messages.ErrFatal) || !errors.Is(e.fail, want) || e.abortUndrained != e.fail {
				t.Fatalf("effects %+v, want a fatal error wrapping %v", e, want)
			}
			wantDone(t, e, txnDone{"offsets", want}) // the queued TxnOffsetCommit
			wantNoSend(t, e)
			s.wantState(txnFatalError)
			if e := s.step(txnRecord{txnTP("out", 1)}); !errors.Is(e.reject, want) {
				t.Fatalf("send after the failure: %v", e.reject)
			}
			for _, ev := range []txnEvent{txnCommit{reply: 1}, txnAbort{reply: 1}, txnBegin{reply: 1}, txnInit{reply: 1}} {
				wantDone(t, s.step(ev), txnDone{1, messages.ErrFatal})
			}
			if e := s.answer(send, &wire.AddPartitionsToTxnResponse{}, 3); e.send != nil || e.fail != nil || len(e.done) != 0 {
				t.Fatalf("late answer: %+v", e)
			}
			wantDone(t, s.step(txnClose{reply: "close"}), txnDone{"close", nil})
		})
	}
}

// A fenced InitProducerId (a newer producer with the same transactional id) is fatal too.
func TestTxnCoreInitFenced(t *testing.T) {
	s := newTxnScript(t, false)
	e := s.findCoordinator(s.step(txnInit{reply: "init"}), wire.CoordinatorTypeTransaction, "txn-a", 1)
	send, _ := sent[*wire.InitProducerIDRequest](s, e)
	e = s.answer(send, &wire.InitProducerIDResponse{ErrorCode: wire.ErrProducerFenced.Code}, 5)
	wantDone(t, e, txnDone{"init", wire.ErrProducerFenced})
	if !errors.Is(e.fail, messages.ErrFatal) {
		t.Fatalf("fail %v", e.fail)
	}
}

// Abortable errors: the transaction cannot commit, only abort; after the abort the producer
// goes on.
func TestTxnCoreAbortable(t *testing.T) {
	s := newTxnScript(t, false)
	s.initialized()
	s.begin()
	e := s.step(txnRecord{txnTP("out", 0)})
	send, _ := sent[*wire.AddPartitionsToTxnRequest](s, e)
	s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0}}}}}, 3)
	e = s.step(txnRecord{txnTP("secret", 0)})
	send, _ = sent[*wire.AddPartitionsToTxnRequest](s, e)
	e = s.step(txnSendOffsets{reply: "offsets", group: testGroup, topics: testOffsets}) // queued
	e = s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "secret", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0, ErrorCode: wire.ErrTopicAuthorizationFailed.Code}}}}}, 3)
	if e.fail != nil {
		t.Fatalf("abortable error failed the producer: %v", e.fail)
	}
	wantDone(t, e, txnDone{"offsets", wire.ErrTopicAuthorizationFailed})
	wantNoSend(t, e)
	s.wantState(txnAbortableError)

	if e := s.step(txnRecord{txnTP("out", 0)}); !errors.Is(e.reject, wire.ErrTopicAuthorizationFailed) {
		t.Fatalf("send in AbortableError: %v", e.reject)
	}
	e = s.step(txnCommit{reply: "commit"})
	wantDone(t, e, txnDone{"commit", wire.ErrTopicAuthorizationFailed})
	if !errors.Is(e.done[0].err, ErrTransactionState) {
		t.Fatalf("commit in AbortableError: %v", e.done[0].err)
	}
	wantDone(t, s.step(txnBegin{reply: "b"}), txnDone{"b", ErrTransactionState})

	// Abort: unsent batches fail, the sent ones are waited for, then EndTxn(abort).
	e = s.step(txnAbort{reply: "abort"})
	if !e.flush || !errors.Is(e.abortUndrained, ErrTransactionAborted) {
		t.Fatalf("abort: %+v", e)
	}
	wantNoSend(t, e)
	s.step(txnRecordFailed{err: ErrTransactionAborted}) // its own aborted batches change nothing
	s.wantState(txnAborting)
	send, end := sent[*wire.EndTxnRequest](s, s.step(txnFlushed{}))
	if end.Commit {
		t.Fatal("EndTxn commits")
	}
	wantDone(t, s.answer(send, &wire.EndTxnResponse{}, 4), txnDone{"abort", nil})
	s.wantState(txnReady)
	s.begin()
}

// A batch that fails while a commit flushes fails the commit; the transaction must be aborted.
func TestTxnCoreRecordFailedDuringCommit(t *testing.T) {
	s := newTxnScript(t, true)
	s.initialized()
	s.begin()
	s.step(txnRecord{txnTP("out", 0)})
	s.step(txnCommit{reply: "commit"})
	e := s.step(txnRecordFailed{err: wire.ErrMessageTooLarge})
	wantDone(t, e, txnDone{"commit", wire.ErrMessageTooLarge})
	s.wantState(txnAbortableError)
	wantNoSend(t, s.step(txnFlushed{}))
	e = s.step(txnAbort{reply: "abort"})
	send, end := sent[*wire.EndTxnRequest](s, s.step(txnFlushed{}))
	if end.Commit {
		t.Fatal("EndTxn commits")
	}
	e = s.answer(send, &wire.EndTxnResponse{ProducerID: 7, ProducerEpoch: 1}, 5)
	wantDone(t, e, txnDone{"abort", nil})
	if e.identity == nil || e.identity.Epoch != 1 {
		t.Fatalf("identity %+v", e.identity)
	}
}

// Classic protocol: a batch the broker lost track of (UNKNOWN_PRODUCER_ID, or possibly written)
// makes the abort bump the epoch with InitProducerId before the producer is Ready (KIP-360).
func TestTxnCoreAbortBumpsEpoch(t *testing.T) {
	for _, cause := range []error{wire.ErrUnknownProducerID, wire.ErrOutOfOrderSequenceNumber, messages.ErrDeliveryTimeout} {
		t.Run(cause.Error(), func(t *testing.T) {
			s := newTxnScript(t, false)
			s.initialized()
			s.begin()
			send, _ := sent[*wire.AddPartitionsToTxnRequest](s, s.step(txnRecord{txnTP("out", 0)}))
			s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
				{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0}}}}}, 3)
			s.step(txnRecordFailed{err: cause})
			s.wantState(txnAbortableError)
			s.step(txnAbort{reply: "abort"})
			send, _ = sent[*wire.EndTxnRequest](s, s.step(txnFlushed{}))
			e := s.answer(send, &wire.EndTxnResponse{}, 4)
			wantDone(t, e) // not before the bump
			s.wantState(txnInitializing)
			send, req := toCoordinator[*wire.InitProducerIDRequest](s, e, 1)
			if req.ProducerID != 7 || req.ProducerEpoch != 0 {
				t.Fatalf("bump asks with %d/%d", req.ProducerID, req.ProducerEpoch)
			}
			e = s.answer(send, &wire.InitProducerIDResponse{ProducerID: 7, ProducerEpoch: 1}, 5)
			wantDone(t, e, txnDone{"abort", nil})
			if e.identity == nil || *e.identity != (producerIdentity{ID: 7, Epoch: 1, Gen: 2}) {
				t.Fatalf("identity %+v", e.identity)
			}
			s.wantState(txnReady)
		})
	}
}

// INVALID_PRODUCER_ID_MAPPING: the coordinator forgot the id, so the abort skips EndTxn and asks
// for an identity at once.
func TestTxnCoreInvalidProducerIDMapping(t *testing.T) {
	s := newTxnScript(t, false)
	s.initialized()
	s.begin()
	send, _ := sent[*wire.AddPartitionsToTxnRequest](s, s.step(txnRecord{txnTP("out", 0)}))
	s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0, ErrorCode: wire.ErrInvalidProducerIDMapping.Code}}}}}, 3)
	s.wantState(txnAbortableError)
	e := s.step(txnAbort{reply: "abort"})
	send, _ = sent[*wire.InitProducerIDRequest](s, e)
	wantDone(t, s.answer(send, &wire.InitProducerIDResponse{ProducerID: 8}, 5), txnDone{"abort", nil})
	s.wantState(txnReady)
}

// A group the producer may not use fails the offsets and makes the transaction abortable.
func TestTxnCoreGroupAuthorization(t *testing.T) {
	s := newTxnScript(t, true)
	s.initialized()
	s.begin()
	e := s.step(txnSendOffsets{reply: "offsets", group: testGroup, topics: testOffsets})
	send, _ := sent[*wire.FindCoordinatorRequest](s, e)
	e = s.answer(send, &wire.FindCoordinatorResponse{Coordinators: []wire.FindCoordinatorResult{{Key: "g", ErrorCode: wire.ErrGroupAuthorizationFailed.Code}}}, 4)
	wantDone(t, e, txnDone{"offsets", wire.ErrGroupAuthorizationFailed})
	if e.fail != nil {
		t.Fatalf("fatal: %v", e.fail)
	}
	s.wantState(txnAbortableError)
}

// The consumer group moved on (a rebalance): TxnOffsetCommit's ILLEGAL_GENERATION is abortable.
func TestTxnCoreOffsetsRebalanced(t *testing.T) {
	s := newTxnScript(t, true)
	s.initialized()
	s.begin()
	e := s.findCoordinator(s.step(txnSendOffsets{reply: "offsets", group: testGroup, topics: testOffsets}), wire.CoordinatorTypeGroup, "g", 2)
	send, _ := toCoordinator[*wire.TxnOffsetCommitRequest](s, e, 2)
	e = s.answer(send, &wire.TxnOffsetCommitResponse{Topics: []wire.TxnOffsetCommitTopicResult{
		{Name: "in", Partitions: []wire.TxnOffsetCommitPartitionResult{{Partition: 0, ErrorCode: wire.ErrIllegalGeneration.Code}}}}}, 5)
	wantDone(t, e, txnDone{"offsets", wire.ErrIllegalGeneration})
	s.wantState(txnAbortableError)
	// NOT_COORDINATOR from the group coordinator finds the group's coordinator again.
	s2 := newTxnScript(t, true)
	s2.initialized()
	s2.begin()
	e = s2.findCoordinator(s2.step(txnSendOffsets{reply: "offsets", group: testGroup, topics: testOffsets}), wire.CoordinatorTypeGroup, "g", 2)
	send, _ = toCoordinator[*wire.TxnOffsetCommitRequest](s2, e, 2)
	e = s2.answer(send, &wire.TxnOffsetCommitResponse{Topics: []wire.TxnOffsetCommitTopicResult{
		{Name: "in", Partitions: []wire.TxnOffsetCommitPartitionResult{{Partition: 0, ErrorCode: wire.ErrNotCoordinator.Code}}}}}, 5)
	timer := wantTimer(t, s2, e, 1)
	s2.now = timer.at
	e = s2.findCoordinator(s2.step(txnTimerFired{gen: timer.gen}), wire.CoordinatorTypeGroup, "g", 3)
	send, _ = toCoordinator[*wire.TxnOffsetCommitRequest](s2, e, 3)
	wantDone(t, s2.answer(send, &wire.TxnOffsetCommitResponse{}, 5), txnDone{"offsets", nil})
	if s2.c.txnCoord.ID != 1 {
		t.Fatalf("the transaction coordinator changed: %+v", s2.c.txnCoord)
	}
}

// Close with an open transaction aborts it (Java's behaviour); afterwards every operation fails
// with ErrProducerClosed.
func TestTxnCoreCloseAborts(t *testing.T) {
	s := newTxnScript(t, false)
	s.initialized()
	s.begin()
	send, _ := sent[*wire.AddPartitionsToTxnRequest](s, s.step(txnRecord{txnTP("out", 0)}))
	e := s.step(txnClose{reply: "close"})
	if !e.flush || !errors.Is(e.abortUndrained, ErrTransactionAborted) {
		t.Fatalf("close: %+v", e)
	}
	// The AddPartitionsToTxn out is kept: once the partition is in, EndTxn must end it.
	e = s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0}}}}}, 3)
	wantNoSend(t, e)
	send, end := sent[*wire.EndTxnRequest](s, s.step(txnFlushed{}))
	if end.Commit {
		t.Fatal("close commits")
	}
	wantDone(t, s.answer(send, &wire.EndTxnResponse{}, 4), txnDone{"close", nil})
	for _, ev := range []txnEvent{txnBegin{reply: 1}, txnInit{reply: 1}} {
		wantDone(t, s.step(ev), txnDone{1, messages.ErrProducerClosed})
	}
	wantDone(t, s.step(txnClose{reply: 2}), txnDone{2, nil})

	// Closing between transactions completes at once.
	s = newTxnScript(t, false)
	s.initialized()
	e = s.step(txnClose{reply: "close"})
	wantDone(t, e, txnDone{"close", nil})
	wantNoSend(t, e)
}

func TestClassifyTxn(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want txnClass
	}{
		{wire.ErrConcurrentTransactions, txnClassRetry},
		{wire.ErrCoordinatorLoadInProgress, txnClassRetry},
		{wire.ErrUnknownTopicOrPartition, txnClassRetry},
		{wire.ErrNotCoordinator, txnClassFindCoordinator},
		{wire.ErrCoordinatorNotAvailable, txnClassFindCoordinator},
		{wire.ErrRequestTimedOut, txnClassFindCoordinator},
		{fmt.Errorf("x: %w", messages.ErrConnection), txnClassFindCoordinator},
		{messages.ErrRequestTimeout, txnClassFindCoordinator},
		{wire.ErrTransactionAbortable, txnClassAbortable},
		{wire.ErrGroupAuthorizationFailed, txnClassAbortable},
		{wire.ErrFencedInstanceID, txnClassAbortable},
		{wire.ErrUnknownProducerID, txnClassAbortableBump},
		{wire.ErrInvalidProducerIDMapping, txnClassAbortableBump},
		{wire.ErrProducerFenced, txnClassFatal},
		{wire.ErrInvalidProducerEpoch, txnClassFatal},
		{wire.ErrTransactionalIDAuthorizationFailed, txnClassFatal},
		{wire.ErrorForCode(35), txnClassFatal},
		{fmt.Errorf("%w: EndTxn", wire.ErrUnsupportedVersion), txnClassFatal},
		{wire.ErrMessageTooLarge, txnClassUnexpected},
		{messages.ErrDeliveryTimeout, txnClassUnexpected},
		{wire.ErrorForCode(30000), txnClassUnexpected},
	} {
		if got := classifyTxn(tc.err); got != tc.want {
			t.Errorf("classifyTxn(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// A batch fenced by a newer producer fails the producer, not just the transaction.
func TestTxnCoreRecordFenced(t *testing.T) {
	s := newTxnScript(t, true)
	s.initialized()
	s.begin()
	s.step(txnRecord{txnTP("out", 0)})
	e := s.step(txnRecordFailed{err: wire.ErrProducerFenced})
	if !errors.Is(e.fail, messages.ErrFatal) || !errors.Is(e.fail, wire.ErrProducerFenced) || e.abortUndrained == nil {
		t.Fatalf("effects %+v", e)
	}
	s.wantState(txnFatalError)
	wantDone(t, s.step(txnAbort{reply: 1}), txnDone{1, wire.ErrProducerFenced})
}

// An abort keeps the AddOffsetsToTxn that is out; its success no longer leads to TxnOffsetCommit,
// but the coordinator now has a transaction, which EndTxn ends.
func TestTxnCoreAbortWhileAddingOffsets(t *testing.T) {
	s := newTxnScript(t, false)
	s.initialized()
	s.begin()
	send, _ := sent[*wire.AddOffsetsToTxnRequest](s, s.step(txnSendOffsets{reply: "offsets", group: testGroup, topics: testOffsets}))
	e := s.step(txnAbort{reply: "abort"})
	wantNoSend(t, e)
	wantDone(t, e)
	e = s.answer(send, &wire.AddOffsetsToTxnResponse{}, 4)
	wantDone(t, e, txnDone{"offsets", ErrTransactionAborted})
	wantNoSend(t, e)
	send, end := sent[*wire.EndTxnRequest](s, s.step(txnFlushed{}))
	if end.Commit {
		t.Fatal("EndTxn commits")
	}
	wantDone(t, s.answer(send, &wire.EndTxnResponse{}, 4), txnDone{"abort", nil})
}

// Abortable answers to EndTxn(abort): a lost producer state ends the transaction with a bumped
// epoch; anything else leaves no way to end it.
func TestTxnCoreAbortAnswers(t *testing.T) {
	run := func(code int16) (*txnScript, txnEffects) {
		s := newTxnScript(t, false)
		s.initialized()
		s.begin()
		send, _ := sent[*wire.AddPartitionsToTxnRequest](s, s.step(txnRecord{txnTP("out", 0)}))
		s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
			{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0}}}}}, 3)
		s.step(txnAbort{reply: "abort"})
		send, _ = sent[*wire.EndTxnRequest](s, s.step(txnFlushed{}))
		return s, s.answer(send, &wire.EndTxnResponse{ErrorCode: code}, 4)
	}
	s, e := run(wire.ErrUnknownProducerID.Code)
	send, req := sent[*wire.InitProducerIDRequest](s, e)
	if req.ProducerID != 7 {
		t.Fatalf("%+v", req)
	}
	wantDone(t, s.answer(send, &wire.InitProducerIDResponse{ProducerID: 7, ProducerEpoch: 1}, 5), txnDone{"abort", nil})

	_, e = run(wire.ErrTransactionAbortable.Code)
	wantDone(t, e, txnDone{"abort", wire.ErrTransactionAbortable})
	if !errors.Is(e.fail, messages.ErrFatal) {
		t.Fatalf("fail %v", e.fail)
	}
}

// Close joins a commit under way, and fails an InitTransactions under way.
func TestTxnCoreCloseDuringOperations(t *testing.T) {
	s := newTxnScript(t, true)
	s.initialized()
	s.begin()
	s.step(txnRecord{txnTP("out", 0)})
	s.step(txnCommit{reply: "commit"})
	wantDone(t, s.step(txnClose{reply: "close"}))
	send, _ := sent[*wire.EndTxnRequest](s, s.step(txnFlushed{}))
	wantDone(t, s.answer(send, &wire.EndTxnResponse{ProducerID: 7, ProducerEpoch: 1}, 5), txnDone{"commit", nil}, txnDone{"close", nil})

	s = newTxnScript(t, false)
	s.step(txnInit{reply: "init"})
	wantDone(t, s.step(txnClose{reply: "close"}), txnDone{"init", messages.ErrProducerClosed}, txnDone{"close", nil})
}

// Close during an abort's epoch bump waits for the bump, which completes the abort.
func TestTxnCoreCloseDuringBump(t *testing.T) {
	s := newTxnScript(t, false)
	s.initialized()
	s.begin()
	send, _ := sent[*wire.AddPartitionsToTxnRequest](s, s.step(txnRecord{txnTP("out", 0)}))
	s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0}}}}}, 3)
	s.step(txnRecordFailed{err: wire.ErrUnknownProducerID})
	s.step(txnAbort{reply: "abort"})
	send, _ = sent[*wire.EndTxnRequest](s, s.step(txnFlushed{}))
	e := s.answer(send, &wire.EndTxnResponse{}, 4)
	wantDone(t, s.step(txnClose{reply: "close"}))
	send, _ = sent[*wire.InitProducerIDRequest](s, e)
	wantDone(t, s.answer(send, &wire.InitProducerIDResponse{ProducerID: 7, ProducerEpoch: 1}, 5), txnDone{"abort", nil}, txnDone{"close", nil})
}

// An answer of the wrong kind (a bug in the caller) fails the producer; it never panics.
func TestTxnCoreWrongAnswer(t *testing.T) {
	s := newTxnScript(t, false)
	send, _ := sent[*wire.FindCoordinatorRequest](s, s.step(txnInit{reply: "init"}))
	e := s.answer(send, &wire.EndTxnResponse{}, 4)
	wantDone(t, e, txnDone{"init", messages.ErrInternal})
	s = newTxnScript(t, false)
	e = s.findCoordinator(s.step(txnInit{reply: "init"}), wire.CoordinatorTypeTransaction, "txn-a", 1)
	send, _ = sent[*wire.InitProducerIDRequest](s, e)
	for _, resp := range []wire.Response{nil, &wire.EndTxnResponse{}} {
		e = s.answer(send, resp, 4)
		wantDone(t, e, txnDone{"init", messages.ErrInternal})
		if !errors.Is(e.fail, messages.ErrFatal) {
			t.Fatalf("%T: %+v", resp, e)
		}
		s = newTxnScript(t, false)
		e = s.findCoordinator(s.step(txnInit{reply: "init"}), wire.CoordinatorTypeTransaction, "txn-a", 1)
		send, _ = sent[*wire.InitProducerIDRequest](s, e)
	}
}

// The first AddPartitionsToTxn of a transaction that meets the previous one still completing
// (CONCURRENT_TRANSACTIONS) retries after 20 ms at most, not the full backoff.
func TestTxnCoreConcurrentTransactionsFirstAdd(t *testing.T) {
	s := newTxnScript(t, false)
	s.initialized()
	s.begin()
	send, _ := sent[*wire.AddPartitionsToTxnRequest](s, s.step(txnRecord{txnTP("out", 0)}))
	e := s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0, ErrorCode: wire.ErrConcurrentTransactions.Code}}}}}, 3)
	if e.timer == nil || e.timer.at.Sub(s.now) != addPartitionsRetryBackoff {
		t.Fatalf("timer %+v, want %v", e.timer, addPartitionsRetryBackoff)
	}
	s.now = e.timer.at
	send, _ = sent[*wire.AddPartitionsToTxnRequest](s, s.step(txnTimerFired{gen: e.timer.gen}))
	e = s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0}}}}}, 3)
	// Once the transaction holds a partition, the usual backoff applies.
	send, _ = sent[*wire.AddPartitionsToTxnRequest](s, s.step(txnRecord{txnTP("out", 1)}))
	e = s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 1, ErrorCode: wire.ErrConcurrentTransactions.Code}}}}}, 3)
	wantTimer(t, s, e, 1)
}

// A partition whose first record comes while an AddPartitionsToTxn for another one waits for its
// retry, with a commit called meanwhile: once that one is added, the partition is added too, so
// the commit's flush (which waits for its batches) can complete.
func TestTxnCoreAddsPendingPartitionsDuringCommit(t *testing.T) {
	s := newTxnScript(t, false)
	s.initialized()
	s.begin()
	e := s.step(txnRecord{txnTP("out", 0)})
	send, _ := sent[*wire.AddPartitionsToTxnRequest](s, e)
	e = s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0, ErrorCode: wire.ErrCoordinatorLoadInProgress.Code}}}}}, 3)
	timer := wantTimer(t, s, e, 1)
	wantNoSend(t, s.step(txnRecord{txnTP("out", 1)})) // waits behind the retry
	if e := s.step(txnCommit{reply: "commit"}); !e.flush {
		t.Fatalf("commit: %+v, want a flush", e)
	}
	s.now = timer.at
	send, _ = sent[*wire.AddPartitionsToTxnRequest](s, s.step(txnTimerFired{gen: timer.gen}))
	e = s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 0}}}}}, 3)
	if len(e.allow) != 1 || e.allow[0] != txnTP("out", 0) {
		t.Fatalf("allow %v", e.allow)
	}
	send, req := sent[*wire.AddPartitionsToTxnRequest](s, e)
	if len(req.Topics) != 1 || !slices.Equal(req.Topics[0].Partitions, []int32{1}) {
		t.Fatalf("second AddPartitionsToTxn: %+v", req.Topics)
	}
	e = s.answer(send, &wire.AddPartitionsToTxnResponse{Topics: []wire.AddPartitionsToTxnTopicResult{
		{Name: "out", Partitions: []wire.AddPartitionsToTxnPartitionResult{{Partition: 1}}}}}, 3)
	if len(e.allow) != 1 || e.allow[0] != txnTP("out", 1) {
		t.Fatalf("allow %v", e.allow)
	}
	send, _ = toCoordinator[*wire.EndTxnRequest](s, s.step(txnFlushed{}), 1)
	wantDone(t, s.answer(send, &wire.EndTxnResponse{}, 4), txnDone{"commit", nil})
}

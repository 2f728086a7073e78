package wire

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Oracle tests of the transaction APIs (FindCoordinator, AddPartitionsToTxn, AddOffsetsToTxn,
// EndTxn, TxnOffsetCommit), in the form of api_test.go: requests encoded by kastor are decoded
// and re-encoded byte for byte by kmsg, responses encoded by kmsg (with random unknown tagged
// fields at flexible versions) are decoded by kastor, at every version.

// ---------------------------------------------------------------------------------------------
// FindCoordinator

func rStrs(rng *rand.Rand) []string {
	s := make([]string, rng.IntN(4))
	for i := range s {
		s[i] = rStr(rng)
	}
	return s
}

func TestFindCoordinatorRequestOracle(t *testing.T) {
	rng := newTestRand(31)
	for _, v := range versions(0, 6) {
		for range oracleIters {
			req := &FindCoordinatorRequest{CoordinatorKey: rStr(rng), CoordinatorType: int8(rng.IntN(3)), CoordinatorKeys: rStrs(rng)}
			kr := kmsg.NewPtrFindCoordinatorRequest()
			checkRequest(t, rng, req, v, kr)
			var want FindCoordinatorRequest // the fields the version carries
			if v <= 3 {
				want.CoordinatorKey = req.CoordinatorKey
			}
			if v >= 1 {
				want.CoordinatorType = req.CoordinatorType
			}
			if v >= 4 {
				want.CoordinatorKeys = nilIfEmpty(req.CoordinatorKeys)
			}
			got := FindCoordinatorRequest{kr.CoordinatorKey, kr.CoordinatorType, kr.CoordinatorKeys}
			checkEqual(t, "FindCoordinatorRequest", v, got, want)
		}
	}
}

// NewFindCoordinatorRequest's one key reaches the broker at every version.
func TestFindCoordinatorRequestOneKey(t *testing.T) {
	for _, v := range versions(0, 6) {
		kr := kmsg.NewPtrFindCoordinatorRequest()
		kr.SetVersion(v)
		if err := kr.ReadFrom(NewFindCoordinatorRequest(CoordinatorTypeTransaction, "txn-a").AppendTo(nil, v)); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		key := kr.CoordinatorKey
		if v >= 4 {
			if len(kr.CoordinatorKeys) != 1 {
				t.Fatalf("v%d: keys %q", v, kr.CoordinatorKeys)
			}
			key = kr.CoordinatorKeys[0]
		}
		if key != "txn-a" || (v >= 1 && kr.CoordinatorType != 1) {
			t.Fatalf("v%d: key %q type %d", v, key, kr.CoordinatorType)
		}
	}
}

// A transactional id cannot be looked up with v0, which knows groups only.
func TestFindCoordinatorRequestMinVersion(t *testing.T) {
	old := BrokerAPIs{KeyFindCoordinator: {0, 0}}
	if v, err := old.Pick(NewFindCoordinatorRequest(CoordinatorTypeGroup, "g")); err != nil || v != 0 {
		t.Fatalf("group at v0: %d %v", v, err)
	}
	if _, err := old.Pick(NewFindCoordinatorRequest(CoordinatorTypeTransaction, "t")); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("transactional id at v0: %v", err)
	}
	if v, err := (BrokerAPIs{KeyFindCoordinator: {0, 2}}).Pick(NewFindCoordinatorRequest(CoordinatorTypeTransaction, "t")); err != nil || v != 2 {
		t.Fatalf("transactional id: %d %v", v, err)
	}
}

func genKmsgFindCoordinatorResponse(rng *rand.Rand, v int16) *kmsg.FindCoordinatorResponse {
	flex := v >= 3
	k := kmsg.NewPtrFindCoordinatorResponse()
	k.Version = v
	if v >= 1 {
		k.ThrottleMillis = rI32(rng)
	}
	if v <= 3 {
		k.ErrorCode, k.NodeID, k.Host, k.Port = rI16(rng), rI32(rng), rStr(rng), rI32(rng)
		if v >= 1 {
			k.ErrorMessage = rNStr(rng)
		}
	} else {
		for range rng.IntN(4) {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.NodeID, c.Host, c.Port, c.ErrorCode, c.ErrorMessage = rStr(rng), rI32(rng), rStr(rng), rI32(rng), rI16(rng), rNStr(rng)
			maybeUnknownTag(rng, flex, &c.UnknownTags)
			k.Coordinators = append(k.Coordinators, c)
		}
	}
	maybeUnknownTag(rng, flex, &k.UnknownTags)
	return k
}

func wantFindCoordinatorResponse(k *kmsg.FindCoordinatorResponse, v int16) FindCoordinatorResponse {
	w := FindCoordinatorResponse{ThrottleMillis: k.ThrottleMillis}
	if v <= 3 {
		w.ErrorCode, w.ErrorMessage, w.NodeID, w.Host, w.Port = k.ErrorCode, k.ErrorMessage, k.NodeID, k.Host, k.Port
		return w
	}
	for _, c := range k.Coordinators {
		w.Coordinators = append(w.Coordinators, FindCoordinatorResult{c.Key, c.NodeID, c.Host, c.Port, c.ErrorCode, c.ErrorMessage})
	}
	return w
}

func TestFindCoordinatorResponseOracle(t *testing.T) {
	rng := newTestRand(32)
	for _, v := range versions(0, 6) {
		for range oracleIters {
			k := genKmsgFindCoordinatorResponse(rng, v)
			got := &FindCoordinatorResponse{Coordinators: make([]FindCoordinatorResult, 3), Host: "stale"}
			if err := got.ReadFrom(k.AppendTo(nil), v); err != nil {
				t.Fatalf("v%d: %v", v, err)
			}
			checkEqual(t, "FindCoordinatorResponse", v, *got, wantFindCoordinatorResponse(k, v))
		}
	}
}

func TestFindCoordinatorResponseResult(t *testing.T) {
	msg := "moved"
	old := &FindCoordinatorResponse{ErrorCode: 15, ErrorMessage: &msg, NodeID: 3, Host: "h", Port: 9}
	if r, ok := old.Result("txn", 3); !ok || r != (FindCoordinatorResult{"txn", 3, "h", 9, 15, &msg}) {
		t.Fatalf("v3: %+v %v", r, ok)
	}
	batched := &FindCoordinatorResponse{Coordinators: []FindCoordinatorResult{{Key: "a", NodeID: 1}, {Key: "txn", NodeID: 2, Host: "b", Port: 7}}}
	if r, ok := batched.Result("txn", 4); !ok || r.NodeID != 2 || r.Host != "b" || r.Port != 7 {
		t.Fatalf("v4: %+v %v", r, ok)
	}
	if _, ok := batched.Result("other", 6); ok {
		t.Fatal("v6: found a key the answer does not have")
	}
}

// ---------------------------------------------------------------------------------------------
// AddPartitionsToTxn

func genAddPartitionsToTxnRequest(rng *rand.Rand) *AddPartitionsToTxnRequest {
	req := &AddPartitionsToTxnRequest{TransactionalID: rStr(rng), ProducerID: rI64(rng), ProducerEpoch: rI16(rng)}
	for range rng.IntN(4) {
		req.Topics = append(req.Topics, AddPartitionsToTxnTopic{Name: rStr(rng), Partitions: rInt32s(rng)})
	}
	return req
}

func TestAddPartitionsToTxnRequestOracle(t *testing.T) {
	rng := newTestRand(33)
	for _, v := range versions(0, 3) {
		for range oracleIters {
			req := genAddPartitionsToTxnRequest(rng)
			kr := kmsg.NewPtrAddPartitionsToTxnRequest()
			checkRequest(t, rng, req, v, kr)
			want := *req
			want.Topics = nilIfEmpty(want.Topics)
			got := AddPartitionsToTxnRequest{TransactionalID: kr.TransactionalID, ProducerID: kr.ProducerID, ProducerEpoch: kr.ProducerEpoch}
			for i, kt := range kr.Topics {
				got.Topics = append(got.Topics, AddPartitionsToTxnTopic{kt.Topic, kt.Partitions})
				want.Topics[i].Partitions = nilIfEmpty(want.Topics[i].Partitions)
			}
			checkEqual(t, "AddPartitionsToTxnRequest", v, got, want)
		}
	}
}

func genKmsgAddPartitionsToTxnResponse(rng *rand.Rand, v int16) *kmsg.AddPartitionsToTxnResponse {
	flex := v >= 3
	k := kmsg.NewPtrAddPartitionsToTxnResponse()
	k.Version = v
	k.ThrottleMillis = rI32(rng)
	for range rng.IntN(4) {
		tp := kmsg.NewAddPartitionsToTxnResponseTopic()
		tp.Topic = rStr(rng)
		for range rng.IntN(4) {
			p := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			p.Partition, p.ErrorCode = rI32(rng), rI16(rng)
			maybeUnknownTag(rng, flex, &p.UnknownTags)
			tp.Partitions = append(tp.Partitions, p)
		}
		maybeUnknownTag(rng, flex, &tp.UnknownTags)
		k.Topics = append(k.Topics, tp)
	}
	maybeUnknownTag(rng, flex, &k.UnknownTags)
	return k
}

func wantAddPartitionsToTxnResponse(k *kmsg.AddPartitionsToTxnResponse) AddPartitionsToTxnResponse {
	w := AddPartitionsToTxnResponse{ThrottleMillis: k.ThrottleMillis}
	for _, kt := range k.Topics {
		wt := AddPartitionsToTxnTopicResult{Name: kt.Topic}
		for _, p := range kt.Partitions {
			wt.Partitions = append(wt.Partitions, AddPartitionsToTxnPartitionResult{p.Partition, p.ErrorCode})
		}
		w.Topics = append(w.Topics, wt)
	}
	return w
}

func TestAddPartitionsToTxnResponseOracle(t *testing.T) {
	rng := newTestRand(34)
	for _, v := range versions(0, 3) {
		for range oracleIters {
			k := genKmsgAddPartitionsToTxnResponse(rng, v)
			got := &AddPartitionsToTxnResponse{Topics: make([]AddPartitionsToTxnTopicResult, 2)}
			if err := got.ReadFrom(k.AppendTo(nil), v); err != nil {
				t.Fatalf("v%d: %v", v, err)
			}
			checkEqual(t, "AddPartitionsToTxnResponse", v, *got, wantAddPartitionsToTxnResponse(k))
		}
	}
}

// ---------------------------------------------------------------------------------------------
// AddOffsetsToTxn

func TestAddOffsetsToTxnRequestOracle(t *testing.T) {
	rng := newTestRand(35)
	for _, v := range versions(0, 4) {
		for range oracleIters {
			req := &AddOffsetsToTxnRequest{TransactionalID: rStr(rng), ProducerID: rI64(rng), ProducerEpoch: rI16(rng), GroupID: rStr(rng)}
			kr := kmsg.NewPtrAddOffsetsToTxnRequest()
			checkRequest(t, rng, req, v, kr)
			got := AddOffsetsToTxnRequest{kr.TransactionalID, kr.ProducerID, kr.ProducerEpoch, kr.Group}
			checkEqual(t, "AddOffsetsToTxnRequest", v, got, *req)
		}
	}
}

func genKmsgAddOffsetsToTxnResponse(rng *rand.Rand, v int16) *kmsg.AddOffsetsToTxnResponse {
	k := kmsg.NewPtrAddOffsetsToTxnResponse()
	k.Version = v
	k.ThrottleMillis, k.ErrorCode = rI32(rng), rI16(rng)
	maybeUnknownTag(rng, v >= 3, &k.UnknownTags)
	return k
}

func wantAddOffsetsToTxnResponse(k *kmsg.AddOffsetsToTxnResponse) AddOffsetsToTxnResponse {
	return AddOffsetsToTxnResponse{k.ThrottleMillis, k.ErrorCode}
}

func TestAddOffsetsToTxnResponseOracle(t *testing.T) {
	rng := newTestRand(36)
	for _, v := range versions(0, 4) {
		for range oracleIters {
			k := genKmsgAddOffsetsToTxnResponse(rng, v)
			var got AddOffsetsToTxnResponse
			if err := got.ReadFrom(k.AppendTo(nil), v); err != nil {
				t.Fatalf("v%d: %v", v, err)
			}
			checkEqual(t, "AddOffsetsToTxnResponse", v, got, wantAddOffsetsToTxnResponse(k))
		}
	}
}

// ---------------------------------------------------------------------------------------------
// EndTxn

func TestEndTxnRequestOracle(t *testing.T) {
	rng := newTestRand(37)
	for _, v := range versions(0, 5) {
		for range oracleIters {
			req := &EndTxnRequest{TransactionalID: rStr(rng), ProducerID: rI64(rng), ProducerEpoch: rI16(rng), Commit: rng.IntN(2) == 0}
			kr := kmsg.NewPtrEndTxnRequest()
			checkRequest(t, rng, req, v, kr)
			got := EndTxnRequest{kr.TransactionalID, kr.ProducerID, kr.ProducerEpoch, kr.Commit}
			checkEqual(t, "EndTxnRequest", v, got, *req)
		}
	}
}

func genKmsgEndTxnResponse(rng *rand.Rand, v int16) *kmsg.EndTxnResponse {
	k := kmsg.NewPtrEndTxnResponse()
	k.Version = v
	k.ThrottleMillis, k.ErrorCode = rI32(rng), rI16(rng)
	if v >= 5 {
		k.ProducerID, k.ProducerEpoch = rI64(rng), rI16(rng)
	}
	maybeUnknownTag(rng, v >= 3, &k.UnknownTags)
	return k
}

// wantEndTxnResponse relies on kmsg's defaults (-1) for the identity before v5, which kastor
// decodes the same way.
func wantEndTxnResponse(k *kmsg.EndTxnResponse) EndTxnResponse {
	return EndTxnResponse{k.ThrottleMillis, k.ErrorCode, k.ProducerID, k.ProducerEpoch}
}

func TestEndTxnResponseOracle(t *testing.T) {
	rng := newTestRand(38)
	for _, v := range versions(0, 5) {
		for range oracleIters {
			k := genKmsgEndTxnResponse(rng, v)
			got := EndTxnResponse{ProducerID: 5, ProducerEpoch: 5}
			if err := got.ReadFrom(k.AppendTo(nil), v); err != nil {
				t.Fatalf("v%d: %v", v, err)
			}
			checkEqual(t, "EndTxnResponse", v, got, wantEndTxnResponse(k))
			if v < 5 && (got.ProducerID != -1 || got.ProducerEpoch != -1) {
				t.Fatalf("v%d: identity %d/%d before v5", v, got.ProducerID, got.ProducerEpoch)
			}
		}
	}
}

// ---------------------------------------------------------------------------------------------
// TxnOffsetCommit

func genTxnOffsetCommitRequest(rng *rand.Rand) *TxnOffsetCommitRequest {
	req := &TxnOffsetCommitRequest{
		TransactionalID: rStr(rng), GroupID: rStr(rng), ProducerID: rI64(rng), ProducerEpoch: rI16(rng),
		GenerationID: rI32(rng), MemberID: rStr(rng), GroupInstanceID: rNStr(rng),
	}
	for range rng.IntN(4) {
		tp := TxnOffsetCommitTopic{Name: rStr(rng)}
		for range rng.IntN(4) {
			tp.Partitions = append(tp.Partitions, TxnOffsetCommitPartition{rI32(rng), rI64(rng), rI32(rng), rNStr(rng)})
		}
		req.Topics = append(req.Topics, tp)
	}
	return req
}

func TestTxnOffsetCommitRequestOracle(t *testing.T) {
	rng := newTestRand(39)
	for _, v := range versions(0, 5) {
		for range oracleIters {
			req := genTxnOffsetCommitRequest(rng)
			kr := kmsg.NewPtrTxnOffsetCommitRequest()
			checkRequest(t, rng, req, v, kr)
			want := *req
			if v < 3 { // not written: kmsg keeps its defaults
				want.GenerationID, want.MemberID, want.GroupInstanceID = -1, "", nil
			}
			want.Topics = nil
			for _, tp := range req.Topics {
				wt := TxnOffsetCommitTopic{Name: tp.Name}
				for _, p := range tp.Partitions {
					if v < 2 {
						p.LeaderEpoch = -1
					}
					wt.Partitions = append(wt.Partitions, p)
				}
				want.Topics = append(want.Topics, wt)
			}
			got := TxnOffsetCommitRequest{
				TransactionalID: kr.TransactionalID, GroupID: kr.Group, ProducerID: kr.ProducerID, ProducerEpoch: kr.ProducerEpoch,
				GenerationID: kr.Generation, MemberID: kr.MemberID, GroupInstanceID: kr.InstanceID,
			}
			for _, kt := range kr.Topics {
				gt := TxnOffsetCommitTopic{Name: kt.Topic}
				for _, p := range kt.Partitions {
					gt.Partitions = append(gt.Partitions, TxnOffsetCommitPartition{p.Partition, p.Offset, p.LeaderEpoch, p.Metadata})
				}
				got.Topics = append(got.Topics, gt)
			}
			checkEqual(t, "TxnOffsetCommitRequest", v, got, want)
		}
	}
}

func genKmsgTxnOffsetCommitResponse(rng *rand.Rand, v int16) *kmsg.TxnOffsetCommitResponse {
	flex := v >= 3
	k := kmsg.NewPtrTxnOffsetCommitResponse()
	k.Version = v
	k.ThrottleMillis = rI32(rng)
	for range rng.IntN(4) {
		tp := kmsg.NewTxnOffsetCommitResponseTopic()
		tp.Topic = rStr(rng)
		for range rng.IntN(4) {
			p := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			p.Partition, p.ErrorCode = rI32(rng), rI16(rng)
			maybeUnknownTag(rng, flex, &p.UnknownTags)
			tp.Partitions = append(tp.Partitions, p)
		}
		maybeUnknownTag(rng, flex, &tp.UnknownTags)
		k.Topics = append(k.Topics, tp)
	}
	maybeUnknownTag(rng, flex, &k.UnknownTags)
	return k
}

func wantTxnOffsetCommitResponse(k *kmsg.TxnOffsetCommitResponse) TxnOffsetCommitResponse {
	w := TxnOffsetCommitResponse{ThrottleMillis: k.ThrottleMillis}
	for _, kt := range k.Topics {
		wt := TxnOffsetCommitTopicResult{Name: kt.Topic}
		for _, p := range kt.Partitions {
			wt.Partitions = append(wt.Partitions, TxnOffsetCommitPartitionResult{p.Partition, p.ErrorCode})
		}
		w.Topics = append(w.Topics, wt)
	}
	return w
}

func TestTxnOffsetCommitResponseOracle(t *testing.T) {
	rng := newTestRand(40)
	for _, v := range versions(0, 5) {
		for range oracleIters {
			k := genKmsgTxnOffsetCommitResponse(rng, v)
			got := &TxnOffsetCommitResponse{Topics: make([]TxnOffsetCommitTopicResult, 2)}
			if err := got.ReadFrom(k.AppendTo(nil), v); err != nil {
				t.Fatalf("v%d: %v", v, err)
			}
			checkEqual(t, "TxnOffsetCommitResponse", v, *got, wantTxnOffsetCommitResponse(k))
		}
	}
}

// ---------------------------------------------------------------------------------------------
// The transaction.version feature

func TestTransactionsV2Feature(t *testing.T) {
	for _, c := range []struct {
		features []kmsg.ApiVersionsResponseFinalizedFeature
		level    int16
		ok, v2   bool
	}{
		{nil, 0, false, false},
		{[]kmsg.ApiVersionsResponseFinalizedFeature{{Name: "metadata.version", MaxVersionLevel: 25}}, 0, false, false},
		{[]kmsg.ApiVersionsResponseFinalizedFeature{{Name: "transaction.version", MaxVersionLevel: 0}}, 0, true, false},
		{[]kmsg.ApiVersionsResponseFinalizedFeature{{Name: "transaction.version", MaxVersionLevel: 1}}, 1, true, false},
		{[]kmsg.ApiVersionsResponseFinalizedFeature{{Name: "metadata.version", MaxVersionLevel: 25}, {Name: "transaction.version", MinVersionLevel: 0, MaxVersionLevel: 2}}, 2, true, true},
	} {
		k := kmsg.NewPtrApiVersionsResponse()
		k.Version = 3
		k.FinalizedFeatures = c.features
		var resp ApiVersionsResponse
		if err := resp.ReadFrom(k.AppendTo(nil), 3); err != nil {
			t.Fatal(err)
		}
		level, ok := resp.FinalizedFeatureLevel(FeatureTransactionVersion)
		if level != c.level || ok != c.ok || resp.TransactionsV2() != c.v2 {
			t.Errorf("%+v: level %d %v, v2 %v", c.features, level, ok, resp.TransactionsV2())
		}
	}
}

package actors

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor/bufferpool"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

func strp(s string) *string { return &s }

// TestBuildCluster: brokers become host:port, partitions are indexed by number whatever the
// response's order, and a complete response is not reported incomplete.
func TestBuildCluster(t *testing.T) {
	resp := &wire.MetadataResponse{
		Brokers: []wire.MetadataBroker{{NodeID: 1, Host: "h1", Port: 9092}, {NodeID: 2, Host: "::1", Port: 9093}},
		Topics: []wire.MetadataTopic{{
			Name: strp("t"), TopicID: [16]byte{7},
			Partitions: []wire.MetadataPartition{
				{Partition: 2, Leader: 1, LeaderEpoch: 3},
				{Partition: 0, Leader: 2, LeaderEpoch: 4},
				{Partition: 1, Leader: 1, LeaderEpoch: 5},
			},
		}},
	}
	cl, incomplete := buildCluster(resp)
	if incomplete {
		t.Errorf("a complete response was reported incomplete")
	}
	if len(cl.Brokers) != 2 || cl.Brokers[1] != "h1:9092" || cl.Brokers[2] != "[::1]:9093" {
		t.Errorf("brokers %v", cl.Brokers)
	}
	ti := cl.Topics["t"]
	if ti == nil || ti.Err != nil || ti.ID != [16]byte{7} || len(ti.Partitions) != 3 {
		t.Fatalf("topic t: %+v", ti)
	}
	for p, want := range []PartitionInfo{{Leader: 2, LeaderEpoch: 4}, {Leader: 1, LeaderEpoch: 5}, {Leader: 1, LeaderEpoch: 3}} {
		if ti.Partitions[p] != want {
			t.Errorf("partition %d: %+v, want %+v", p, ti.Partitions[p], want)
		}
	}
	node, addr, ok := cl.Leader(messages.TopicPartition{Topic: "t", Partition: 0})
	if !ok || node != 2 || addr != "[::1]:9093" {
		t.Errorf("Leader(t-0) = %d %q %v", node, addr, ok)
	}
	for _, tp := range []messages.TopicPartition{{Topic: "t", Partition: 3}, {Topic: "t", Partition: -1}, {Topic: "x", Partition: 0}} {
		if _, _, ok := cl.Leader(tp); ok {
			t.Errorf("Leader(%v) found a leader", tp)
		}
	}
}

// TestBuildClusterIncomplete: topic errors, partitions without a leader and leaders that are not
// among the brokers make the snapshot incomplete; nameless topics and negative partitions are
// skipped.
func TestBuildClusterIncomplete(t *testing.T) {
	brokers := []wire.MetadataBroker{{NodeID: 1, Host: "h1", Port: 9092}}
	for _, tc := range []struct {
		name  string
		topic wire.MetadataTopic
		check func(t *testing.T, cl *Cluster)
	}{
		{"topic error", wire.MetadataTopic{Name: strp("t"), ErrorCode: wire.ErrUnknownTopicOrPartition.Code},
			func(t *testing.T, cl *Cluster) {
				ti := cl.Topics["t"]
				if ti == nil || ti != nil && (ti.Err != wire.ErrUnknownTopicOrPartition || len(ti.Partitions) != 0) {
					t.Errorf("topic t: %+v, want UNKNOWN_TOPIC_OR_PARTITION and no partitions", ti)
				}
			}},
		{"no leader", wire.MetadataTopic{Name: strp("t"), Partitions: []wire.MetadataPartition{
			{Partition: 0, Leader: 1}, {Partition: 1, Leader: -1, LeaderEpoch: -1, ErrorCode: wire.ErrLeaderNotAvailable.Code}}},
			func(t *testing.T, cl *Cluster) {
				p := cl.Topics["t"].Partitions[1]
				if p.Leader != -1 || p.Err != wire.ErrLeaderNotAvailable {
					t.Errorf("partition 1: %+v, want no leader and LEADER_NOT_AVAILABLE", p)
				}
				if _, _, ok := cl.Leader(messages.TopicPartition{Topic: "t", Partition: 1}); ok {
					t.Errorf("a partition without a leader has one")
				}
				if _, _, ok := cl.Leader(messages.TopicPartition{Topic: "t", Partition: 0}); !ok {
					t.Errorf("partition 0 lost its leader")
				}
			}},
		{"unknown broker", wire.MetadataTopic{Name: strp("t"), Partitions: []wire.MetadataPartition{{Partition: 0, Leader: 9}}},
			func(t *testing.T, cl *Cluster) {
				if _, _, ok := cl.Leader(messages.TopicPartition{Topic: "t", Partition: 0}); ok {
					t.Errorf("a leader that is not a known broker was accepted")
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, incomplete := buildCluster(&wire.MetadataResponse{Brokers: brokers, Topics: []wire.MetadataTopic{tc.topic}})
			if !incomplete {
				t.Errorf("not reported incomplete")
			}
			tc.check(t, cl)
		})
	}

	t.Run("skipped", func(t *testing.T) {
		cl, incomplete := buildCluster(&wire.MetadataResponse{Brokers: brokers, Topics: []wire.MetadataTopic{
			{Name: nil, ErrorCode: wire.ErrUnknownTopicOrPartition.Code},
			{Name: strp("t"), Partitions: []wire.MetadataPartition{{Partition: -1, Leader: 1}, {Partition: 2, Leader: 1}, {Partition: 0, Leader: 1}}},
		}})
		if incomplete || len(cl.Topics) != 1 {
			t.Fatalf("incomplete %v, topics %v", incomplete, cl.Topics)
		}
		ps := cl.Topics["t"].Partitions
		if len(ps) != 3 || ps[0].Leader != 1 || ps[2].Leader != 1 || ps[1] != (PartitionInfo{Leader: -1, LeaderEpoch: -1}) {
			t.Errorf("partitions %+v, want 0 and 2 led by 1 and a leaderless hole at 1", ps)
		}
	})
}

// TestMetadataApplyHint: a LeaderHint with a newer leader epoch moves the partition in a new
// snapshot (the old one is left untouched) that the step publishes, which tells the watchers;
// stale or unusable hints change nothing. Driven through the core's step, with no actor system.
func TestMetadataApplyHint(t *testing.T) {
	sh := NewShared(testSettings(), discardLogger, bufferpool.NewBudget(1), nil)
	old := &Cluster{Brokers: map[int32]string{1: "b1:9092", 3: "b3:9092"},
		Topics: map[string]*TopicInfo{"t": {ID: [16]byte{1}, Partitions: []PartitionInfo{{Leader: 1, LeaderEpoch: 5}, {Leader: 1, LeaderEpoch: 5}, {Leader: 1, LeaderEpoch: 5}}}}}
	sh.publish(old)
	s := &metadataState{shared: sh, watchers: &[]*actor.PID{}}

	fx := s.step(time.Unix(1000, 0), &messages.LeaderHint{
		Leaders: []messages.PartitionLeader{
			{TP: tp("t", 0), Leader: 2, LeaderEpoch: 6}, // new leader, address in the hint
			{TP: tp("t", 1), Leader: 2, LeaderEpoch: 4}, // stale epoch
			{TP: tp("t", 2), Leader: 3, LeaderEpoch: 6}, // known broker
			{TP: tp("x", 0), Leader: 2, LeaderEpoch: 9}, // unknown topic
			{TP: tp("t", 7), Leader: 2, LeaderEpoch: 9}, // no such partition
		},
		Endpoints: map[int32]string{2: "b2:9093"},
	})
	cl := fx.publish
	if cl == nil || cl == old {
		t.Fatalf("no new snapshot to publish")
	}
	if fx.request != nil || fx.connect != "" || fx.wakeSet {
		t.Errorf("a hint asked for more than a publish: %+v", fx)
	}
	want := []PartitionInfo{{Leader: 2, LeaderEpoch: 6}, {Leader: 1, LeaderEpoch: 5}, {Leader: 3, LeaderEpoch: 6}}
	for p, w := range want {
		if got := cl.Topics["t"].Partitions[p]; got != w {
			t.Errorf("t-%d: %+v, want %+v", p, got, w)
		}
	}
	if cl.Brokers[2] != "b2:9093" || cl.Topics["t"].ID != [16]byte{1} {
		t.Errorf("brokers %v, topic id %x", cl.Brokers, cl.Topics["t"].ID)
	}
	if old.Topics["t"].Partitions[0].Leader != 1 || len(old.Brokers) != 2 {
		t.Errorf("the old snapshot was modified: %+v %v", old.Topics["t"].Partitions, old.Brokers)
	}
	if sh.Cluster() != old {
		t.Errorf("the step published by itself")
	}
	*fx = metaEffects{}

	// A hint that changes nothing publishes nothing.
	fx = s.step(time.Unix(1001, 0), &messages.LeaderHint{Leaders: []messages.PartitionLeader{{TP: tp("t", 0), Leader: 4, LeaderEpoch: 6}}})
	if fx.publish != nil {
		t.Errorf("a useless hint asked for a snapshot to be published")
	}
}

// TestMetadataCoreRequestSchedule: the core asks the first bootstrap server at start, holds a
// second request back for the rate limit (asking to be woken at its end) unless a new topic comes,
// moves to the next address after a failure, and after an answer publishes it and asks to be woken
// for MetadataMaxAge. Driven step by step with a number for a clock.
func TestMetadataCoreRequestSchedule(t *testing.T) {
	set := testSettings()
	set.Bootstrap = []string{"boot1:9092", "boot2:9092"}
	set.RetryBackoff, set.RetryBackoffMax = 100*time.Millisecond, 100*time.Millisecond
	s := &metadataState{shared: NewShared(set, discardLogger, bufferpool.NewBudget(1), nil), watchers: &[]*actor.PID{}, topics: map[string]time.Time{}}
	t0 := time.Unix(1000, 0)
	fx := s.step(t0, &actor.Started{})
	if fx.connect != "boot1:9092" || fx.request == nil {
		t.Fatalf("start: connect %q, request %v; want boot1 and a request", fx.connect, fx.request)
	}
	*fx = metaEffects{}
	// A refresh while one is out waits for it.
	if fx = s.step(t0, &messages.RefreshMetadata{Topics: []string{"t"}}); fx.request != nil {
		t.Fatal("a second request while one is out")
	}
	// The first fails: the next address, at once (the new topic skips the rate limit).
	fx = s.step(t0.Add(10*time.Millisecond), &messages.CallDone{Tag: &metadataCall{gen: s.callGen}, Err: errors.New("refused")})
	if !fx.stopConn || fx.connect != "boot2:9092" || !fx.errSet || fx.err == nil {
		t.Fatalf("after a failure: %+v, want the connection stopped, boot2 dialled and the cause kept", fx)
	}
	if fx.request == nil || len(fx.request.Topics) != 1 || *fx.request.Topics[0].Name != "t" {
		t.Fatalf("after a failure: request %+v, want one for t", fx.request)
	}
	*fx = metaEffects{}
	// The answer: published, the cause cleared, the next refresh at MetadataMaxAge.
	answeredAt := t0.Add(20 * time.Millisecond)
	topicT := "t"
	resp := &wire.MetadataResponse{Brokers: []wire.MetadataBroker{{NodeID: 1, Host: "b1", Port: 9092}},
		Topics: []wire.MetadataTopic{{Name: &topicT, Partitions: []wire.MetadataPartition{{Partition: 0, Leader: 1}}}}}
	fx = s.step(answeredAt, &messages.CallDone{Tag: &metadataCall{gen: s.callGen}, Resp: resp})
	if fx.publish == nil || fx.publish.Brokers[1] != "b1:9092" || !fx.errSet || fx.err != nil {
		t.Fatalf("after the answer: %+v, want the snapshot published and the cause cleared", fx)
	}
	if !fx.wakeSet || !fx.wakeAt.Equal(answeredAt.Add(set.MetadataMaxAge)) {
		t.Fatalf("after the answer: wake at %v, want MetadataMaxAge later", fx.wakeAt)
	}
	*fx = metaEffects{}
	// A refresh of a known topic inside the rate limit waits for its end.
	fx = s.step(answeredAt.Add(time.Millisecond), &messages.RefreshMetadata{Topics: []string{"t"}})
	if fx.request != nil || !fx.wakeSet || fx.wakeAt.Sub(answeredAt) > 100*time.Millisecond {
		t.Fatalf("inside the rate limit: request %v, wake at %v; want none and a wake-up at the limit's end", fx.request, fx.wakeAt)
	}
}

// metadataEnv starts a fake broker and an env whose connections dial it, with bootstrap boot:9092.
func metadataEnv(t *testing.T, set Settings, handle func(req *kmsg.MetadataRequest, n int) reply) (*env, *fakeBroker) {
	var mu sync.Mutex
	n := 0
	fb := newFakeBroker(t, func(req kmsg.Request) reply {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		return handle(req.(*kmsg.MetadataRequest), k)
	})
	set.Bootstrap = []string{"boot:9092"}
	set.Dial = fb.dial
	return newEnv(t, set), fb
}

func requested(req *kmsg.MetadataRequest, topic string) bool {
	for _, t := range req.Topics {
		if t.Topic != nil && *t.Topic == topic {
			return true
		}
	}
	return false
}

// waitLeader waits on the watcher's MetadataUpdated messages until the snapshot names tp's leader.
func (e *env) waitLeader(t *testing.T, watcher *probe, tp messages.TopicPartition) (updates int, addr string) {
	t.Helper()
	for {
		expectMsg[*messages.MetadataUpdated](t, watcher)
		updates++
		if _, addr, ok := e.shared.Cluster().Leader(tp); ok {
			return updates, addr
		}
	}
}

// TestMetadataActorPublishes: the metadata actor asks the bootstrap server for the topics it is
// asked about, publishes the snapshot and tells its watchers.
func TestMetadataActorPublishes(t *testing.T) {
	e, fb := metadataEnv(t, testSettings(), func(req *kmsg.MetadataRequest, _ int) reply {
		return reply{resp: metadataAnswer(req, nil)}
	})
	watcher := e.newProbe()
	meta := e.spawn(newMetadataProps(e.shared))
	e.sys.Root.Send(meta, &WatchMetadata{PID: watcher.pid})
	e.sys.Root.Send(meta, &messages.RefreshMetadata{Topics: []string{"t"}, Reason: "test"})
	_, addr := e.waitLeader(t, watcher, tp("t", 0))
	if addr != "b1:9092" {
		t.Errorf("leader of t-0 at %q, want b1:9092", addr)
	}
	if got := <-fb.dials; got != "boot:9092" {
		t.Errorf("first dialled %q, want the bootstrap server", got)
	}
	if ti := e.shared.Cluster().Topics["t"]; ti.ID != [16]byte{0xC} || ti.Err != nil {
		t.Errorf("topic t: %+v", ti)
	}
	sawT := false
	for len(fb.reqs) > 0 {
		sawT = sawT || requested((<-fb.reqs).(*kmsg.MetadataRequest), "t")
	}
	if !sawT {
		t.Errorf("no metadata request named topic t")
	}
}

// TestMetadataActorRetriesIncomplete: a snapshot with an unusable topic is published, and the actor
// asks again by itself until the topic is usable.
func TestMetadataActorRetriesIncomplete(t *testing.T) {
	var mu sync.Mutex
	failed := 0
	e, _ := metadataEnv(t, testSettings(), func(req *kmsg.MetadataRequest, _ int) reply {
		return reply{resp: metadataAnswer(req, func(string) int16 {
			mu.Lock()
			defer mu.Unlock()
			if failed < 2 {
				failed++
				return wire.ErrLeaderNotAvailable.Code
			}
			return 0
		})}
	})
	watcher := e.newProbe()
	meta := e.spawn(newMetadataProps(e.shared))
	e.sys.Root.Send(meta, &WatchMetadata{PID: watcher.pid})
	e.sys.Root.Send(meta, &messages.RefreshMetadata{Topics: []string{"t"}, Reason: "test"})
	updates, _ := e.waitLeader(t, watcher, tp("t", 0))
	if updates < 3 {
		t.Errorf("usable after %d snapshots, want at least 3 (two incomplete)", updates)
	}
}

// TestMetadataActorRefreshesPeriodically: with nothing asked, the snapshot is refreshed every
// MetadataMaxAge.
func TestMetadataActorRefreshesPeriodically(t *testing.T) {
	set := testSettings()
	set.MetadataMaxAge = 20 * time.Millisecond
	e, fb := metadataEnv(t, set, func(req *kmsg.MetadataRequest, _ int) reply {
		return reply{resp: metadataAnswer(req, nil)}
	})
	e.spawn(newMetadataProps(e.shared))
	for range 3 {
		select {
		case <-fb.reqs:
		case <-time.After(waitLimit):
			t.Fatal("no periodic metadata request")
		}
	}
}

// TestMetadataActorRotatesServers: when a metadata request fails, the next goes to the next
// server, in turn.
func TestMetadataActorRotatesServers(t *testing.T) {
	set := testSettings()
	set.Bootstrap = []string{"a:1", "b:2"}
	dialed := make(chan string, 64)
	set.Dial = failingDial(dialed, nil)
	e := newEnv(t, set)
	e.spawn(newMetadataProps(e.shared))
	for i, want := range []string{"a:1", "b:2", "a:1"} {
		select {
		case got := <-dialed:
			if got != want {
				t.Fatalf("dial %d to %q, want %q", i, got, want)
			}
		case <-time.After(waitLimit):
			t.Fatalf("dial %d never happened", i)
		}
	}
}

// A topic that was asked about long ago stays in the refreshes while its accumulators say it is
// in use (topicInUse); one nobody asked about and nothing was sent to for topicIdle is dropped.
func TestMetadataKeepsTopicsInUse(t *testing.T) {
	sh := NewShared(testSettings(), discardLogger, bufferpool.NewBudget(1), nil)
	now := time.Now()
	s := &metadataState{shared: sh, topics: map[string]time.Time{
		"busy": now.Add(-2 * topicIdle), "idle": now.Add(-2 * topicIdle), "asked": now.Add(-time.Minute)}}
	s.step(now.Add(-time.Second), &topicInUse{topic: "busy"})
	s.step(now, &topicInUse{topic: "new"})
	got := s.topicsToAsk(now)
	slices.Sort(got)
	if !slices.Equal(got, []string{"asked", "busy", "new"}) {
		t.Fatalf("topics asked for: %v, want asked, busy and new", got)
	}
	if _, ok := s.topics["idle"]; ok {
		t.Fatal("the idle topic was kept")
	}
}

// A connection setup's outcome reaches the metadata core by message: a failure is published as
// the snapshot's SetupFailure, a success clears it, and a success with nothing to clear does
// nothing.
func TestMetadataNotesSetups(t *testing.T) {
	s := &metadataState{shared: NewShared(testSettings(), discardLogger, bufferpool.NewBudget(1), nil), watchers: &[]*actor.PID{}, topics: map[string]time.Time{}}
	now := time.Unix(1000, 0)
	if fx := s.step(now, &setupNoted{}); fx.setupSet {
		t.Fatal("a success with no failure to clear publishes")
	}
	refused := errors.New("refused")
	fx := s.step(now, &setupNoted{err: refused})
	if !fx.setupSet || fx.setup != refused {
		t.Fatalf("a failed setup: %+v, want it published", fx)
	}
	*fx = metaEffects{}
	s.shared.publishDiagnostics(nil, refused) // as apply does
	if fx := s.step(now, &setupNoted{}); !fx.setupSet || fx.setup != nil {
		t.Fatalf("a success after a failure: %+v, want the failure cleared", fx)
	}
}

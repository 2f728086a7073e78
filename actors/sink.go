package actors

// The sink: the produce side of a broker's connection. Accumulators hand it their sealed batches
// (Batch) directly once the sender has routed them here; it keeps them in arrival order and,
// whenever the connection has a free in-flight slot, writes one Produce request holding every
// pending batch that fits in MaxRequestSize (one per partition: a broker takes one batch per
// partition in a request). Arrivals do not write at once: the first one of a burst queues a
// flushDue behind the messages already in the mailbox, so batches that arrive together share a
// request, and no request waits for a partition that has nothing to give. Each result goes
// straight back to its batch's accumulator.
//
// The decisions live in sinkCore, which takes events and returns effects (requests to write,
// answers to send, metadata to refresh, when to wake up) as data; the connection's core applies
// them (connCore, conncore.go). sink_test.go drives the core with no actor system.

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// sinkCore is one broker's produce queue and in-flight window.
type sinkCore struct {
	maxInFlight    int
	maxRequestSize int
	acks           int16
	timeoutMillis  int32
	// transactionalID names a transactional producer's requests (empty: none).
	transactionalID string

	pending     []*messages.Batch // arrival order; a partition's batches stay in its send order
	inflight    int               // produce requests written and not answered
	flushQueued bool              // a flushDue is on its way
	// throttledUntil holds further requests (KIP-219: the broker answered with throttle_time_ms
	// and expects the client to wait it out), in the clock's nanoseconds.
	throttledUntil int64

	chosen map[messages.TopicPartition]struct{} // scratch for flush
	spare  []*sinkRequest                       // answered requests, see recycle
	// answered and written: the storage of the last effects' answers and requests, reused by the
	// next ones (see effects).
	answered []sinkAnswer
	written  []*sinkRequest
}

// sinkRequest is one produce request: its batches, in the order the request lists them.
type sinkRequest struct {
	batches []*messages.Batch
	req     *wire.ProduceRequest // its topic ids say which topic a v13 response (ids only) means
	call    messages.Call        // how the connection writes it (connCore.applySink)
	resp    wire.ProduceResponse // where its answer is decoded (call.Resp), reused with the request
	sentNs  int64                // when it was written (metrics; 0 without them)
	// writerDone is the writer of the link it was written on (see requestFrame).
	writerDone <-chan struct{}
}

type sinkAnswer struct {
	to   *actor.PID
	done *messages.BatchDone
}

// sinkEffects is what the connection must do after a sinkCore step, valid until the sink's next
// call (its slices' storage is reused, see effects).
type sinkEffects struct {
	write      []*sinkRequest // in this order
	answers    []sinkAnswer
	refresh    []string             // topics to refresh metadata for
	hint       *messages.LeaderHint // new leaders the broker named (sent before the answers)
	queueFlush bool                 // send flushDue to self
	wakeAt     int64                // flush again at this time (throttled); 0: no wake-up
}

func newSinkCore(set Settings) *sinkCore {
	return &sinkCore{maxInFlight: max(set.MaxInFlight, 1), maxRequestSize: set.MaxRequestSize, acks: set.Acks,
		timeoutMillis: int32(set.RequestTimeout.Milliseconds()), transactionalID: set.TransactionalID, chosen: map[messages.TopicPartition]struct{}{}}
}

// effects returns empty effects whose answers (and, with writes, requests) reuse the storage of
// earlier ones: the connection carries out a step's effects before the sink's next call, with one
// exception, which is why only flush reuses the requests' storage: while it writes the requests
// of a flush, one refused at once is answered (done) before the rest are written.
func (k *sinkCore) effects(writes bool) sinkEffects {
	clear(k.answered)
	e := sinkEffects{answers: k.answered[:0]}
	if writes {
		clear(k.written)
		e.write = k.written[:0]
	}
	return e
}

// keep takes back the storage of e's slices for effects.
func (k *sinkCore) keep(e *sinkEffects) {
	k.answered = e.answers
	if e.write != nil {
		k.written = e.write
	}
}

// add takes a batch an accumulator handed over.
func (k *sinkCore) add(b *messages.Batch) sinkEffects {
	k.pending = append(k.pending, b)
	return k.queue()
}

func (k *sinkCore) queue() sinkEffects {
	if k.flushQueued || len(k.pending) == 0 {
		return sinkEffects{}
	}
	k.flushQueued = true
	return sinkEffects{queueFlush: true}
}

// flush builds requests from the pending batches while the window has room. writable: the link is
// up. topics is the current metadata: a topic that left it (deleted, say) cannot be addressed by
// id, so its batches fail with UNKNOWN_TOPIC_OR_PARTITION and a refresh.
func (k *sinkCore) flush(now int64, writable bool, topics map[string]*TopicInfo) sinkEffects {
	k.flushQueued = false
	e := k.effects(true)
	defer k.keep(&e)
	if !writable || len(k.pending) == 0 {
		return e
	}
	if now < k.throttledUntil {
		e.wakeAt = k.throttledUntil
		return e
	}
	for k.inflight < k.maxInFlight && len(k.pending) > 0 {
		r := k.nextRequest(now, topics, &e)
		if r == nil {
			continue // every batch taken failed
		}
		k.inflight++
		e.write = append(e.write, r)
	}
	return e
}

// nextRequest takes the batches of one request off pending: oldest first, one per partition, as
// many as fit in maxRequestSize (a lone larger batch still goes, alone: the broker's limits
// decide). What it skips stays pending, in order; what expired is answered instead.
func (k *sinkCore) nextRequest(now int64, topics map[string]*TopicInfo, e *sinkEffects) *sinkRequest {
	clear(k.chosen)
	r := k.newRequest()
	batches := r.batches[:0]
	rest := k.pending[:0]
	size := 0
	for _, b := range k.pending {
		if b.ExpiresNs != 0 && now >= b.ExpiresNs {
			// Its accumulator failed it with a delivery timeout: as Java does with an expired
			// batch that was never drained, it is not written after all.
			e.answers = append(e.answers, sinkAnswer{b.Accumulator, failed(b, fmt.Errorf("%w: not sent before the delivery timeout", messages.ErrDeliveryTimeout))})
			continue
		}
		_, dup := k.chosen[b.TP]
		if dup || (len(batches) > 0 && size+len(b.Data) > k.maxRequestSize) {
			if !dup {
				k.chosen[b.TP] = struct{}{} // its partition's later batches must not overtake it
			}
			rest = append(rest, b)
			continue
		}
		if topics[b.TP.Topic] == nil {
			e.answers = append(e.answers, sinkAnswer{b.Accumulator, failed(b, fmt.Errorf("%w (%s: not in the current metadata)", wire.ErrUnknownTopicOrPartition, b.TP.Topic))})
			e.refresh = appendTopic(e.refresh, b.TP.Topic)
			continue
		}
		k.chosen[b.TP] = struct{}{}
		batches = append(batches, b)
		size += len(b.Data)
	}
	clear(k.pending[len(rest):])
	k.pending = rest
	r.batches = batches
	if len(batches) == 0 {
		k.recycle(r)
		return nil
	}
	k.fillRequest(r.req, batches, topics)
	return r
}

// newRequest returns an empty request, reusing an answered one's storage.
func (k *sinkCore) newRequest() *sinkRequest {
	if n := len(k.spare); n > 0 {
		r := k.spare[n-1]
		k.spare[n-1] = nil
		k.spare = k.spare[:n-1]
		return r
	}
	return &sinkRequest{req: &wire.ProduceRequest{}}
}

// recycle keeps an answered request for newRequest, once the connection carried out the effects of
// the step that answered it (connEffects.released). Nothing refers to r then: its Call left the
// in-flight list, its frame was encoded when it was written (the frame keeps the batches' bytes,
// not the request), and the metrics read it.
func (k *sinkCore) recycle(r *sinkRequest) {
	if len(k.spare) >= k.maxInFlight {
		return
	}
	clear(r.batches)
	for i := range r.req.Topics {
		clear(r.req.Topics[i].Partitions) // the batches' bytes
	}
	*r = sinkRequest{batches: r.batches[:0], req: r.req, resp: r.resp}
	k.spare = append(k.spare, r)
}

// fillRequest makes req the Produce request of batches, reusing its slices.
func (k *sinkCore) fillRequest(req *wire.ProduceRequest, batches []*messages.Batch, topics map[string]*TopicInfo) {
	*req = wire.ProduceRequest{Acks: k.acks, TimeoutMillis: k.timeoutMillis, Topics: req.Topics[:0]}
	if k.transactionalID != "" {
		req.TransactionalID = &k.transactionalID
	}
	for _, b := range batches {
		i := -1
		for j := range req.Topics {
			if req.Topics[j].Name == b.TP.Topic {
				i = j
				break
			}
		}
		if i < 0 {
			i = len(req.Topics)
			// A reused request keeps its topics' partition slices; most requests hold one topic,
			// so a new one has room for every batch and is not regrown.
			var parts []wire.ProducePartition
			if i < cap(req.Topics) {
				parts = req.Topics[:i+1][i].Partitions[:0]
			} else {
				parts = make([]wire.ProducePartition, 0, len(batches))
			}
			t := wire.ProduceTopic{Name: b.TP.Topic, Partitions: parts}
			if ti := topics[b.TP.Topic]; ti != nil {
				t.TopicID = ti.ID
			}
			req.Topics = append(req.Topics, t)
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, wire.ProducePartition{Partition: b.TP.Partition, Records: b.Data})
	}
}

// done: request r came back with resp (nil: acks=0, written is all we will ever know) or failed
// with err (it may have been written).
func (k *sinkCore) done(now int64, r *sinkRequest, resp *wire.ProduceResponse, err error) sinkEffects {
	k.inflight--
	e := k.effects(false)
	defer k.keep(&e)
	switch {
	case err != nil:
		for _, b := range r.batches {
			done := failed(b, err)
			// Failed with its link: that link's writer may still be reading the batch's bytes.
			done.WriterDone = r.writerDone
			e.answers = append(e.answers, sinkAnswer{b.Accumulator, done})
		}
		if classify(err).refreshMetadata {
			for _, b := range r.batches {
				e.refresh = appendTopic(e.refresh, b.TP.Topic)
			}
		}
	case resp == nil:
		for _, b := range r.batches {
			e.answers = append(e.answers, sinkAnswer{b.Accumulator, failed(b, nil)})
		}
	default:
		if resp.ThrottleMillis > 0 {
			k.throttledUntil = max(k.throttledUntil, now+int64(resp.ThrottleMillis)*int64(time.Millisecond))
		}
		k.results(r, resp, &e)
	}
	e.queueFlush = k.queue().queueFlush
	return e
}

// results matches each batch of r with its partition's result in resp.
func (k *sinkCore) results(r *sinkRequest, resp *wire.ProduceResponse, e *sinkEffects) {
	for _, b := range r.batches {
		p := producePartitionResult(resp, r.req, b.TP)
		done := b.Answer()
		if p != nil {
			done.LogStartOffset = p.LogStartOffset // UNKNOWN_PRODUCER_ID needs it too
		}
		switch {
		case p == nil:
			done.Err = fmt.Errorf("%w: %s-%d", errMissingPartition, b.TP.Topic, b.TP.Partition)
		case p.ErrorCode != 0:
			err := wire.ErrorForCode(p.ErrorCode)
			if p.ErrorMessage != nil && *p.ErrorMessage != "" {
				err = fmt.Errorf("%w (%s-%d: %s)", err, b.TP.Topic, b.TP.Partition, *p.ErrorMessage)
			} else {
				err = fmt.Errorf("%w (%s-%d)", err, b.TP.Topic, b.TP.Partition)
			}
			done.Err = err
			if classify(err).refreshMetadata {
				e.refresh = appendTopic(e.refresh, b.TP.Topic)
			}
			if p.CurrentLeader.LeaderID >= 0 && (p.ErrorCode == wire.ErrNotLeaderOrFollower.Code || p.ErrorCode == wire.ErrFencedLeaderEpoch.Code) {
				if e.hint == nil {
					e.hint = &messages.LeaderHint{Endpoints: map[int32]string{}}
					for _, ep := range resp.NodeEndpoints {
						e.hint.Endpoints[ep.NodeID] = net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
					}
				}
				e.hint.Leaders = append(e.hint.Leaders, messages.PartitionLeader{TP: b.TP, Leader: p.CurrentLeader.LeaderID, LeaderEpoch: p.CurrentLeader.LeaderEpoch})
			}
		default:
			done.BaseOffset, done.LogAppendTime = p.BaseOffset, p.LogAppendTime
		}
		e.answers = append(e.answers, sinkAnswer{b.Accumulator, done})
	}
}

// holds reports whether b is pending (and so answered by dropPending).
func (k *sinkCore) holds(b *messages.Batch) bool {
	for _, x := range k.pending {
		if x == b {
			return true
		}
	}
	return false
}

// dropPending answers every batch not written yet with err: the connection failed or stopped.
func (k *sinkCore) dropPending(err error) sinkEffects {
	e := k.effects(false)
	defer k.keep(&e)
	refresh := classify(err).refreshMetadata
	for _, b := range k.pending {
		e.answers = append(e.answers, sinkAnswer{b.Accumulator, failed(b, err)})
		if refresh {
			e.refresh = appendTopic(e.refresh, b.TP.Topic)
		}
	}
	clear(k.pending)
	k.pending = k.pending[:0]
	return e
}

func failed(b *messages.Batch, err error) *messages.BatchDone {
	done := b.Answer()
	done.Err = err
	return done
}

func appendTopic(topics []string, t string) []string {
	for _, x := range topics {
		if x == t {
			return topics
		}
	}
	return append(topics, t)
}

// errMissingPartition: a produce response left out a partition it was asked to write.
var errMissingPartition = errors.New("kastor: produce response did not mention the partition")

// producePartitionResult finds tp's result in resp: by name, or (v13 answers by topic id only) by
// the id the request was built with, not the current snapshot's: metadata may have changed (or been
// reset by a restart) while the request was out. A request holds a few topics and one entry per
// partition, so scanning costs less than building maps for every response.
func producePartitionResult(resp *wire.ProduceResponse, req *wire.ProduceRequest, tp messages.TopicPartition) *wire.ProduceResponsePartition {
	var id [16]byte
	for i := range req.Topics {
		if req.Topics[i].Name == tp.Topic {
			id = req.Topics[i].TopicID
			break
		}
	}
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		if t.Name != tp.Topic && (t.Name != "" || t.TopicID != id || id == [16]byte{}) {
			continue
		}
		for pi := range t.Partitions {
			if t.Partitions[pi].Partition == tp.Partition {
				return &t.Partitions[pi]
			}
		}
	}
	return nil
}

// The connection's messages for the sink; connCore (conncore.go) feeds the sink and carries out its
// effects.

// flushDue: flush the sink once the mailbox's current burst is handled.
type flushDue struct{}

// sinkAddress moves the sink to a broker's new address (the sender saw it change in metadata).
// The sink is never replaced: accumulators hold its PID, and a stopped actor drops its mailbox.
type sinkAddress struct{ addr string }

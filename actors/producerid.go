package actors

// The sender's idempotence part: it owns the producer identity (id and epoch, published in Shared
// for the accumulators to stamp on batches) and the producer's fatal state. No produce request
// leaves before the first InitProducerId answered; epoch bumps are local (KIP-360) unless the
// epoch is exhausted or a partition found the broker no longer knows the id.

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

type producerIDState struct {
	fetching   bool   // an InitProducerId is out, or waiting for its retry timer
	fetchGen   uint64 // tags the current InitProducerId, so a late answer to an old one is ignored
	failures   int
	retryTimer *time.Timer
	waiters    []*actor.PID // accumulators waiting for an identity newer than the current one
}

type initProducerIDCall struct{ gen uint64 }

type initProducerIDRetry struct{ gen uint64 }

// identityReady reports whether batches may be drained; when not, it makes sure an
// InitProducerId is under way (through n's connection if no broker is less loaded).
func (s *senderState) identityReady(c actor.Context, n *nodeState) bool {
	if !s.shared.Settings.Idempotent {
		return true
	}
	if s.pid.fetching || s.shared.Fatal() != nil {
		return false // a failed producer sends nothing more, and asks for no id
	}
	if s.shared.Identity() != nil {
		return true
	}
	s.fetchProducerID(c, n)
	return false
}

// fetchProducerID sends InitProducerId to the least loaded broker we have a connection to.
func (s *senderState) fetchProducerID(c actor.Context, fallback *nodeState) {
	target := fallback
	for _, n := range s.nodes {
		if n.conn != nil && (target == nil || target.conn == nil || n.inflight < target.inflight) {
			target = n
		}
	}
	s.pid.fetching = true
	s.pid.fetchGen++
	if target == nil || target.conn == nil {
		s.retryProducerID(c) // no broker yet: the next route brings one
		return
	}
	req := &wire.InitProducerIDRequest{TransactionTimeoutMillis: math.MaxInt32, ProducerID: -1, ProducerEpoch: -1}
	c.Send(target.conn, &messages.Call{Req: req, ReplyTo: c.Self(), Tag: &initProducerIDCall{gen: s.pid.fetchGen}})
}

func (s *senderState) retryProducerID(c actor.Context) {
	s.pid.failures++
	gen, self, root := s.pid.fetchGen, c.Self(), c.ActorSystem().Root
	d := Backoff(s.shared.Settings.RetryBackoff, s.shared.Settings.RetryBackoffMax, s.pid.failures)
	s.pid.retryTimer = time.AfterFunc(d, func() { root.Send(self, &initProducerIDRetry{gen: gen}) })
}

func (s *senderState) onProducerIDRetry(c actor.Context, m *initProducerIDRetry) {
	if !s.pid.fetching || m.gen != s.pid.fetchGen {
		return
	}
	s.pid.retryTimer = nil
	s.fetchProducerID(c, nil)
}

func (s *senderState) onProducerIDDone(c actor.Context, m *messages.CallDone, tag *initProducerIDCall) {
	if !s.pid.fetching || tag.gen != s.pid.fetchGen {
		return
	}
	err := m.Err
	var resp *wire.InitProducerIDResponse
	if err == nil {
		resp = m.Resp.(*wire.InitProducerIDResponse)
		err = wire.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		if classify(err).retry {
			s.shared.Logger.Debug("InitProducerId failed; retrying", "broker", m.Node, "err", err)
			s.retryProducerID(c)
			return
		}
		s.pid.fetching = false
		s.fail(c, fmt.Errorf("InitProducerId: %w", err))
		return
	}
	s.pid.fetching, s.pid.failures = false, 0
	gen := uint64(1)
	if old := s.shared.Identity(); old != nil {
		gen = old.Gen + 1
	}
	s.shared.identity.Store(&Identity{ID: resp.ProducerID, Epoch: resp.ProducerEpoch, Gen: gen})
	s.shared.Logger.Debug("producer id", "producer_id", resp.ProducerID, "epoch", resp.ProducerEpoch)
	s.identityChanged(c)
}

// onBumpEpoch answers a partition whose sequences must start over under a newer identity.
func (s *senderState) onBumpEpoch(c actor.Context, m *messages.BumpEpoch) {
	cur := s.shared.Identity()
	if cur == nil || cur.Gen != m.Gen {
		c.Send(m.Accumulator, &messages.Reannounce{}) // already newer (or being fetched: it waits for that)
		return
	}
	s.pid.waiters = append(s.pid.waiters, m.Accumulator)
	if s.pid.fetching {
		return
	}
	if m.NewID || cur.Epoch == math.MaxInt16 {
		s.shared.Logger.Info("asking for a new producer id", "producer_id", cur.ID, "epoch", cur.Epoch)
		s.fetchProducerID(c, nil)
		return
	}
	s.shared.identity.Store(&Identity{ID: cur.ID, Epoch: cur.Epoch + 1, Gen: cur.Gen + 1})
	s.shared.Logger.Info("bumped the producer epoch", "producer_id", cur.ID, "epoch", cur.Epoch+1)
	s.identityChanged(c)
}

func (s *senderState) identityChanged(c actor.Context) {
	for _, w := range s.pid.waiters {
		c.Send(w, &messages.Reannounce{})
	}
	s.pid.waiters = nil
	for _, n := range s.nodes {
		s.maybeGather(c, n)
	}
}

// fail moves the producer into its fatal state: every record held fails with the error, every
// later send too, and the producer actor hears of it (and escalates).
func (s *senderState) fail(c actor.Context, cause error) {
	err := cause
	if !errors.Is(err, messages.ErrFatal) {
		err = fmt.Errorf("%w: %w", messages.ErrFatal, cause)
	}
	if !s.shared.setFatal(err) {
		return
	}
	// No more producer ids: stop a fetch or its retry, and forget waiters (they are aborted).
	s.stopProducerIDTimer()
	s.pid.fetching, s.pid.waiters = false, nil
	s.pid.fetchGen++
	s.shared.Logger.Error("the producer failed; every pending and later send fails", "err", err)
	s.shared.RangeAccumulators(func(_ messages.TopicPartition, pid *actor.PID) {
		c.Send(pid, &messages.AbortPartition{Err: err})
	})
	if parent := c.Parent(); parent != nil {
		c.Send(parent, &messages.ProducerFailed{Err: err})
	}
}

func (s *senderState) stopProducerIDTimer() {
	if s.pid.retryTimer != nil {
		s.pid.retryTimer.Stop()
		s.pid.retryTimer = nil
	}
}

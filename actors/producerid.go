package actors

// The sender's idempotence part: it owns the producer identity (id and epoch, sent to the
// accumulators, which stamp it on their batches) and the producer's fatal state. No produce request
// leaves before the first InitProducerId answered; epoch bumps are local (KIP-360) unless the
// epoch is exhausted or a partition found the broker no longer knows the id.
//
// The decisions live in identityCore, a plain struct that takes an event and returns what to do
// as data (identityEffects): it reads no clock, arms no timer and sends nothing, so it is tested
// with tables (producerid_test.go). The sender applies the effects.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// identityCore is the producer-id state machine of one sender instance.
type identityCore struct {
	current *producerIdentity // the current identity (nil until the first InitProducerId answered)
	fatal   error             // the producer's fatal error, once it failed
	// fetching: an InitProducerId is out, or waiting for its retry. fetchGen tags it, so a late
	// answer or retry of an older one is ignored.
	fetching bool
	fetchGen uint64
	failures int          // consecutive retriable failures, for the backoff
	waiters  []*actor.PID // accumulators waiting for an identity newer than the current one

	retryBackoff, retryBackoffMax time.Duration
}

// identityEffects is what the sender must do after an identityCore step.
type identityEffects struct {
	// fetch: send InitProducerId tagged fetchGen to the least loaded broker (when there is none,
	// report it with noBroker).
	fetch    bool
	fetchGen uint64
	// retryAfter > 0: arm the retry timer; when it fires, retryDue gets fetchGen.
	retryAfter time.Duration
	// publish: the new identity to publish; then the partitions waiting for one are routed.
	publish *producerIdentity
	// wake: accumulators to send the current identity (theirs is already newer than they think).
	wake []*actor.PID
	// fail: the producer's fatal error, to keep (a restarted sender keeps it) and report to the
	// producer actor (producerFatal), which aborts every accumulator; stop the retry timer.
	fail error
	// log: what happened, for the sender to log (level and message).
	log      string
	logLevel logLevel
}

type logLevel uint8

const (
	logNone logLevel = iota
	logDebug
	logInfo
	logError
)

type initProducerIDCall struct{ gen uint64 }

// ready reports whether batches may be sent; when not, the effects start an InitProducerId
// if none is under way.
func (ic *identityCore) ready() (bool, identityEffects) {
	if ic.fetching || ic.fatal != nil {
		return false, identityEffects{} // a failed producer sends nothing more, and asks for no id
	}
	if ic.current != nil {
		return true, identityEffects{}
	}
	return false, ic.startFetch()
}

func (ic *identityCore) startFetch() identityEffects {
	ic.fetching = true
	ic.fetchGen++
	return identityEffects{fetch: true, fetchGen: ic.fetchGen}
}

// noBroker: the fetch found no broker to ask; try again after a backoff (the next route brings
// one).
func (ic *identityCore) noBroker() identityEffects { return ic.retryLater() }

func (ic *identityCore) retryLater() identityEffects {
	ic.failures++
	return identityEffects{retryAfter: backoff(ic.retryBackoff, ic.retryBackoffMax, ic.failures), fetchGen: ic.fetchGen}
}

// retryDue: the retry timer of fetch gen fired.
func (ic *identityCore) retryDue(gen uint64) identityEffects {
	if !ic.fetching || gen != ic.fetchGen {
		return identityEffects{}
	}
	ic.fetchGen++
	return identityEffects{fetch: true, fetchGen: ic.fetchGen}
}

// answered: InitProducerId tagged gen came back with resp, or with err (a failed call or the
// broker's error code).
func (ic *identityCore) answered(gen uint64, resp *wire.InitProducerIDResponse, err error) identityEffects {
	if !ic.fetching || gen != ic.fetchGen {
		return identityEffects{}
	}
	if err == nil {
		err = wire.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		if classify(err).retry {
			e := ic.retryLater()
			e.log, e.logLevel = fmt.Sprintf("InitProducerId failed; retrying: %v", err), logDebug
			return e
		}
		return ic.failWith(fmt.Errorf("InitProducerId: %w", err))
	}
	ic.fetching, ic.failures = false, 0
	gen = 1
	if ic.current != nil {
		gen = ic.current.Gen + 1
	}
	return ic.publish(&producerIdentity{ID: resp.ProducerID, Epoch: resp.ProducerEpoch, Gen: gen},
		fmt.Sprintf("producer id %d epoch %d", resp.ProducerID, resp.ProducerEpoch), logDebug)
}

// bump: a partition's sequences must start over under an identity newer than generation gen
// (newID: the broker does not know the id, a new one is needed).
func (ic *identityCore) bump(gen uint64, newID bool, acc *actor.PID) identityEffects {
	cur := ic.current
	if cur == nil || cur.Gen != gen {
		// Already newer (or being fetched: it waits for that).
		return identityEffects{wake: []*actor.PID{acc}}
	}
	ic.waiters = append(ic.waiters, acc)
	if ic.fetching || ic.fatal != nil {
		return identityEffects{}
	}
	if newID || cur.Epoch == math.MaxInt16 {
		e := ic.startFetch()
		e.log, e.logLevel = fmt.Sprintf("asking for a new producer id (producer id %d, epoch %d)", cur.ID, cur.Epoch), logInfo
		return e
	}
	return ic.publish(&producerIdentity{ID: cur.ID, Epoch: cur.Epoch + 1, Gen: cur.Gen + 1},
		fmt.Sprintf("bumped the producer epoch (producer id %d, epoch %d)", cur.ID, cur.Epoch+1), logInfo)
}

func (ic *identityCore) publish(id *producerIdentity, log string, level logLevel) identityEffects {
	ic.current = id
	e := identityEffects{publish: id, wake: ic.waiters, log: log, logLevel: level}
	ic.waiters = nil
	return e
}

// failWith moves the producer into its fatal state (once): no more producer ids, and waiters
// are forgotten (their partitions are aborted).
func (ic *identityCore) failWith(cause error) identityEffects {
	if ic.fatal != nil {
		return identityEffects{}
	}
	err := cause
	if !errors.Is(err, messages.ErrFatal) {
		err = fmt.Errorf("%w: %w", messages.ErrFatal, cause)
	}
	ic.fatal = err
	ic.fetching, ic.waiters = false, nil
	ic.fetchGen++
	return identityEffects{fail: err, log: fmt.Sprintf("the producer failed; every pending and later send fails: %v", err), logLevel: logError}
}

// identityReady reports whether batches may be sent; when not, it makes sure an InitProducerId
// is under way (through n's connection).
func (s *senderState) identityReady(c actor.Context, n *nodeState) bool {
	if !s.shared.Settings.Idempotent {
		return true
	}
	if s.shared.Txn != nil {
		// The transaction actor gets the identity (InitProducerId with the transactional id) and
		// sends it (txnIdentity); the partition waits for it.
		return s.ident.current != nil && s.ident.fatal == nil
	}
	ok, e := s.ident.ready()
	s.applyIdentity(c, e, n)
	return ok
}

// applyIdentity carries out what the identity core decided. fallback is the node to ask for a
// producer id when no connected broker is less loaded.
func (s *senderState) applyIdentity(c actor.Context, e identityEffects, fallback *nodeState) {
	switch e.logLevel {
	case logDebug:
		s.shared.Logger.Debug(e.log)
	case logInfo:
		s.shared.Logger.Info(e.log)
	case logError:
		s.shared.Logger.Error(e.log)
	}
	if e.fail != nil {
		// The core decides it once. The producer actor aborts every partition (these waiting ones
		// too) and publishes it; a restarted sender keeps it.
		s.kept.fatal = e.fail
		s.stopProducerIDTimer()
		clear(s.waiting)
		if parent := c.Parent(); parent != nil {
			c.Send(parent, &producerFatal{err: e.fail})
		}
		return
	}
	if e.fetch {
		target := fallback
		if target == nil {
			target = s.idNode(c)
		}
		if target == nil {
			s.applyIdentity(c, s.ident.noBroker(), nil)
			return
		}
		req := &wire.InitProducerIDRequest{TransactionTimeoutMillis: math.MaxInt32, ProducerID: -1, ProducerEpoch: -1}
		c.Send(target.sink, &messages.Call{Req: req, ReplyTo: c.Self(), Tag: &initProducerIDCall{gen: e.fetchGen}})
	}
	if e.retryAfter > 0 {
		s.retryGen = e.fetchGen
		s.retryTimer.arm(c, e.retryAfter)
	}
	if e.publish != nil {
		// Every accumulator seals with it from now on (a new epoch starts every partition over).
		s.kept.identity = e.publish
		s.shared.RangeAccumulators(func(_ messages.TopicPartition, pid *actor.PID) {
			c.Send(pid, &identityNews{id: e.publish})
		})
		s.routeWaiting(c)
	}
	for _, w := range e.wake { // registered already, as a rule: a second news costs one update
		c.Send(w, &identityNews{id: s.ident.current})
	}
}

// idNode picks the broker to ask for a producer id when no partition names one: each retry asks
// the next broker of the snapshot, so one that is down (or gone) is not asked again and again.
func (s *senderState) idNode(c actor.Context) *nodeState {
	brokers := s.shared.Cluster().Brokers
	if len(brokers) == 0 {
		for _, n := range s.nodes {
			return n
		}
		return nil
	}
	ids := make([]int32, 0, len(brokers))
	for id := range brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	id := ids[s.ident.failures%len(ids)]
	return s.node(c, id, brokers[id])
}

func (s *senderState) onProducerIDDone(c actor.Context, m *messages.CallDone, tag *initProducerIDCall) {
	var resp *wire.InitProducerIDResponse
	if m.Err == nil {
		resp = m.Resp.(*wire.InitProducerIDResponse)
	}
	s.applyIdentity(c, s.ident.answered(tag.gen, resp, m.Err), nil)
}

// fail moves the producer into its fatal state: every record held fails with the error, every
// later send too, and the producer actor hears of it (and escalates).
func (s *senderState) fail(c actor.Context, cause error) {
	s.applyIdentity(c, s.ident.failWith(cause), nil)
}

func (s *senderState) stopProducerIDTimer() { s.retryTimer.stop() }

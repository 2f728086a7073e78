package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/messages"
)

// backoffStrategy is the supervisor strategy of every kastor parent: a child that fails (a panic,
// or a connection reporting a broken link with connectionFailure) is restarted after an
// exponential, capped delay with ±20 % jitter (Backoff), counted over Window: a child that stays
// healthy for Window starts again from Initial, and so does a connection whose link had been set
// up before it broke (the delay grows only over consecutive failed attempts, as Java's
// reconnect.backoff does). protoactor-go's own
// "exponential" strategy grows linearly and has no cap, hence this one.
//
// It never stops a child: a stopped accumulator or connection would leave its peers waiting for
// answers that never come, so kastor keeps restarting (slowly) instead. Each restart settles the
// message that failed (see the actors' Restarting handlers), so no record is lost either way.
type backoffStrategy struct {
	Initial, Max, Window time.Duration
}

// HandleFailure implements actor.SupervisorStrategy.
func (s backoffStrategy) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	rs *actor.RestartStatistics, reason interface{}, msg interface{}) {
	d := s.delay(rs, reason)
	if _, ok := reason.(*connectionFailure); !ok {
		sys.Logger().Error("kastor: actor panicked; restarting it", "actor", child.Id, "after", d, "reason", reason)
	}
	sys.EventStream.Publish(&actor.SupervisorEvent{Child: child, Reason: reason, Directive: actor.RestartDirective})
	time.AfterFunc(d, func() { sup.RestartChildren(child) })
}

// delay counts the failure in rs and returns how long the child waits before its restart.
func (s backoffStrategy) delay(rs *actor.RestartStatistics, reason any) time.Duration {
	if f, ok := reason.(*connectionFailure); rs.NumberOfFailures(s.Window) == 0 || (ok && f.WasUp) {
		rs.Reset()
	}
	rs.Fail()
	return backoff(s.Initial, s.Max, rs.FailureCount())
}

// supervision is the strategy kastor parents give their children.
func supervision(set Settings) actor.PropsOption {
	return actor.WithSupervisor(backoffStrategy{Initial: set.ReconnectBackoff, Max: set.ReconnectMax, Window: time.Minute})
}

// stopNotice carries why an actor is about to stop, from the producer actor (which restarts) to
// the actor's Stopping, where it fails what it holds with it. Not the mailbox: protoactor-go
// delivers the Stop (a system message) ahead of every user message queued before it. Buffered for
// the one notice an actor gets.
type stopNotice chan error

func newStopNotice() stopNotice { return make(stopNotice, 1) }

// send tells the actor why it stops next; the first notice counts. Producer actor only, before
// the Stop.
func (n stopNotice) send(cause error) {
	select {
	case n <- cause:
	default:
	}
}

// cause is the noticed cause, or ErrProducerClosed when none came (the producer is closing, or
// the actor was stopped).
func (n stopNotice) cause() error {
	select {
	case err := <-n:
		return err
	default:
		return messages.ErrProducerClosed
	}
}

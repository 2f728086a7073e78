package actors

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// wakeTimer is an actor's one-shot timer: when it expires the actor gets a timerFired in its
// mailbox, and fired tells the current expiry from a stale one (a fire already on its way when
// the timer was re-armed or stopped). Only the actor's goroutine touches it; the zero value is a
// stopped timer.
//
// Each arming is named by a generation from one process-wide counter, so a stale fire can never
// pass for a later arming, of this timer or of a timer in a later instance of the actor. A timer
// whose fire was cancelled before it ran is reset rather than made anew (its generation still
// names no fire that was sent), so actors that re-arm often (an accumulator's linger, a
// connection's request timeout) do so without allocating.
type wakeTimer struct {
	t     *time.Timer // nil, or a timer that has not sent its fire (pending if armed)
	gen   uint64      // the generation t's fire carries
	armed bool
	send  func(*timerFired) // to the actor's mailbox; set at the first arm
}

// timerFired is the message a wakeTimer sends its actor.
type timerFired struct {
	timer *wakeTimer
	gen   uint64
}

var timerGens atomic.Uint64

// arm sets the timer to fire after d (at once if d <= 0), replacing any earlier arming.
func (w *wakeTimer) arm(c actor.Context, d time.Duration) {
	if w.send == nil {
		// The PID outlives restarts, and a timer never moves to another actor.
		self, root := c.Self(), c.ActorSystem().Root
		w.send = func(m *timerFired) { root.Send(self, m) }
	}
	w.start(d)
}

// armAt is arm for a point in time.
func (w *wakeTimer) armAt(c actor.Context, at time.Time) { w.arm(c, time.Until(at)) }

func (w *wakeTimer) start(d time.Duration) {
	if w.t != nil && (!w.armed || w.t.Stop()) {
		w.t.Reset(d) // its fire was never sent: the generation still names this arming alone
	} else {
		// The fire of the last arming was sent or is on its way: from now on it is stale.
		gen, send := timerGens.Add(1), w.send
		m := &timerFired{timer: w, gen: gen}
		w.t, w.gen = time.AfterFunc(d, func() { send(m) }), gen
	}
	w.armed = true
}

// stop disarms the timer; a fire already on its way is stale.
func (w *wakeTimer) stop() {
	if w.armed && !w.t.Stop() {
		w.t = nil // its fire was sent or is on its way: the timer cannot be reused
	}
	w.armed = false
}

// isArmed reports whether a fire is pending.
func (w *wakeTimer) isArmed() bool { return w.armed }

// fired reports whether m is this timer's current fire, which disarms it; a stale fire, or
// another timer's, is false.
func (w *wakeTimer) fired(m *timerFired) bool {
	if !w.armed || m.timer != w || m.gen != w.gen {
		return false
	}
	w.t, w.armed = nil, false // the timer has run: the next arm makes a new one
	return true
}

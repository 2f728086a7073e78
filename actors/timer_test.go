package actors

import (
	"testing"
	"time"
)

// newTestTimer returns a wakeTimer whose fires land on the returned channel instead of a mailbox.
func newTestTimer() (*wakeTimer, chan *timerFired) {
	fires := make(chan *timerFired, 8)
	return &wakeTimer{send: func(m *timerFired) { fires <- m }}, fires
}

// fireNow arms w to fire at once and returns the fire, as the actor's mailbox would hold it.
func fireNow(t *testing.T, w *wakeTimer, fires chan *timerFired) *timerFired {
	t.Helper()
	w.start(0)
	select {
	case m := <-fires:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("a timer armed at 0 did not fire")
		return nil
	}
}

func TestWakeTimerCurrentFireOnce(t *testing.T) {
	w, fires := newTestTimer()
	m := fireNow(t, w, fires)
	if !w.isArmed() {
		t.Fatal("disarmed before its fire was handled")
	}
	if !w.fired(m) {
		t.Fatal("the current fire is not current")
	}
	if w.isArmed() || w.fired(m) {
		t.Fatal("a fire is current a second time")
	}
}

func TestWakeTimerRearmMakesFireOnItsWayStale(t *testing.T) {
	w, fires := newTestTimer()
	old := fireNow(t, w, fires) // sent, not yet handled: on its way
	w.start(time.Hour)
	if w.fired(old) {
		t.Fatal("a fire from before the re-arm is current")
	}
	if !w.isArmed() {
		t.Fatal("a stale fire disarmed the timer")
	}
	cur := fireNow(t, w, fires)
	if cur.gen == old.gen {
		t.Fatal("a re-arm after a sent fire kept its generation")
	}
	if w.fired(old) || !w.fired(cur) {
		t.Fatal("old fire current, or new fire not")
	}
}

func TestWakeTimerStopMakesFireStale(t *testing.T) {
	w, fires := newTestTimer()
	m := fireNow(t, w, fires)
	w.stop()
	if w.isArmed() || w.fired(m) {
		t.Fatal("a fire is current after stop")
	}
	// Armed again, the fire from before the stop stays stale.
	w.start(time.Hour)
	if w.fired(m) {
		t.Fatal("a fire from before stop is current after a re-arm")
	}
	w.stop()
}

func TestWakeTimerPendingRearmReusesTimer(t *testing.T) {
	w, fires := newTestTimer()
	w.start(time.Hour)
	first, gen := w.t, w.gen
	w.start(time.Hour) // cancelled before it ran: reset, not made anew
	w.stop()
	w.start(time.Hour)
	if w.t != first || w.gen != gen {
		t.Fatal("a timer whose fire never ran was made anew")
	}
	m := fireNow(t, w, fires)
	if w.t != first || !w.fired(m) {
		t.Fatal("the reused timer's fire is not current")
	}
	select {
	case extra := <-fires:
		t.Fatalf("a reset timer fired twice (gen %d)", extra.gen)
	default:
	}
	// Fired: the next arming makes a new timer with a new generation.
	w.start(time.Hour)
	if w.t == first || w.gen == gen {
		t.Fatal("a timer that ran was reused")
	}
	w.stop()
}

func TestWakeTimerOtherTimersFireIsNotCurrent(t *testing.T) {
	a, fires := newTestTimer()
	b := &wakeTimer{send: a.send}
	m := fireNow(t, a, fires)
	b.start(time.Hour)
	if b.fired(m) || b.fired(&timerFired{timer: a, gen: b.gen}) {
		t.Fatal("one timer took another's fire")
	}
	if !a.fired(m) {
		t.Fatal("the owner's fire is not current")
	}
	b.stop()
}

func TestWakeTimerStoppedNeverArmed(t *testing.T) {
	var w wakeTimer
	w.stop() // the zero value is a stopped timer
	if w.isArmed() || w.fired(&timerFired{timer: &w}) {
		t.Fatal("a never-armed timer has a current fire")
	}
}

// BenchmarkWakeTimerRearm is an accumulator moving its linger deadline: a pending timer reset,
// without allocating.
func BenchmarkWakeTimerRearm(b *testing.B) {
	w, _ := newTestTimer()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w.start(time.Hour + time.Duration(i%2))
	}
	w.stop()
}

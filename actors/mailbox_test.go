package actors

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// invokerLog is a MessageInvoker that records what it was handed; a user message "panic" panics.
type invokerLog struct {
	mu        sync.Mutex
	got       []string
	escalated []any
	handled   chan struct{} // one token per message handled or escalated
}

func newInvokerLog() *invokerLog { return &invokerLog{handled: make(chan struct{}, 1<<16)} }

func (l *invokerLog) add(s string) {
	l.mu.Lock()
	l.got = append(l.got, s)
	l.mu.Unlock()
	l.handled <- struct{}{}
}

func (l *invokerLog) InvokeSystemMessage(m any) { l.add(fmt.Sprintf("sys:%v", m)) }
func (l *invokerLog) InvokeUserMessage(m any) {
	if m == "panic" {
		panic("boom")
	}
	l.add(fmt.Sprintf("user:%v", m))
}
func (l *invokerLog) EscalateFailure(reason, m any) {
	l.mu.Lock()
	l.escalated = append(l.escalated, reason, m)
	l.mu.Unlock()
	l.handled <- struct{}{}
}

func (l *invokerLog) wait(t *testing.T, n int) []string {
	t.Helper()
	for range n {
		select {
		case <-l.handled:
		case <-time.After(waitLimit):
			t.Fatalf("handled fewer than %d messages", n)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// gate is a dispatcher whose turns wait until it is opened, so a test can post before a turn runs.
type gate struct {
	open chan struct{}
	wg   sync.WaitGroup
}

func (g *gate) Schedule(fn func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		<-g.open
		fn()
	}()
}
func (g *gate) Throughput() int { return 2 }

// The mailbox keeps protoactor's default contract: system messages go first, a suspended mailbox
// handles only system messages until resumed, a panic is escalated with the message that caused
// it and the next messages are still handled.
func TestMailboxOrderSuspendAndPanic(t *testing.T) {
	l := newInvokerLog()
	g := &gate{open: make(chan struct{})}
	m := NewMailbox()
	m.RegisterHandlers(l, g)
	m.Start()
	m.PostUserMessage("u1")
	m.PostUserMessage("u2")
	m.PostSystemMessage("s1")
	close(g.open)
	if got := l.wait(t, 3); !slices.Equal(got, []string{"sys:s1", "user:u1", "user:u2"}) {
		t.Fatalf("handled %v, want the system message first", got)
	}

	m.PostSystemMessage(&actor.SuspendMailbox{})
	m.PostUserMessage("u3")
	m.PostSystemMessage("s2")
	if got := l.wait(t, 1); got[len(got)-1] != "sys:s2" {
		t.Fatalf("handled %v, want only the system message while suspended", got)
	}
	if n := m.UserMessageCount(); n != 1 {
		t.Fatalf("%d user messages waiting, want 1", n)
	}
	m.PostSystemMessage(&actor.ResumeMailbox{})
	if got := l.wait(t, 1); got[len(got)-1] != "user:u3" {
		t.Fatalf("handled %v, want u3 after the resume", got)
	}

	m.PostUserMessage("panic")
	m.PostUserMessage("u4")
	l.wait(t, 1) // the escalation
	l.mu.Lock()
	esc := slices.Clone(l.escalated)
	l.mu.Unlock()
	if len(esc) != 2 || esc[0] != "boom" || esc[1] != "panic" {
		t.Fatalf("escalated %v, want the panic with its message", esc)
	}
	// The supervisor would suspend the mailbox and restart the actor; here nothing does, and the
	// next message is still handled, on a later turn.
	m.PostSystemMessage("s3")
	got := l.wait(t, 2)
	if !slices.Contains(got, "user:u4") || !slices.Contains(got, "sys:s3") {
		t.Fatalf("handled %v after the panic, want u4 and s3", got)
	}
	g.wg.Wait()
}

// Posts from many goroutines while turns run: every message is handled once, each poster's in
// its order, and no post is left waiting for a turn that never comes.
func TestMailboxLosesNoWakeUp(t *testing.T) {
	l := newInvokerLog()
	d := NewDispatcher(3)
	defer d.Stop()
	m := NewMailbox()
	m.RegisterHandlers(l, d)
	const posters, per = 4, 5000
	var wg sync.WaitGroup
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if i%100 == 0 {
					m.PostSystemMessage(fmt.Sprintf("%d-%d", p, i))
				}
				m.PostUserMessage(fmt.Sprintf("%d-%d", p, i))
				if i%8 == 0 {
					runtime.Gosched() // let turns end between posts
				}
			}
		}()
	}
	wg.Wait()
	got := l.wait(t, posters*per+posters*per/100)
	next := map[string]int{}
	for _, s := range got {
		kind, rest, _ := strings.Cut(s, ":")
		var p, i int
		if _, err := fmt.Sscanf(rest, "%d-%d", &p, &i); err != nil {
			t.Fatalf("unexpected %q: %v", s, err)
		}
		key := fmt.Sprintf("%s%d", kind, p)
		step := 1
		if kind == "sys" {
			step = 100
		}
		if i != next[key] {
			t.Fatalf("%s: got %d, want %d (out of order or lost)", key, i, next[key])
		}
		next[key] = i + step
	}
	if n := m.UserMessageCount(); n != 0 {
		t.Fatalf("%d user messages left", n)
	}
}

// A message posted just as a turn ends (right after the previous one was handled) still gets a
// turn: the post sees the mailbox running and does not schedule, so the ending turn must look again.
func TestMailboxPostAsTurnEnds(t *testing.T) {
	l := newInvokerLog()
	d := NewDispatcher(300)
	defer d.Stop()
	m := NewMailbox()
	m.RegisterHandlers(l, d)
	for i := range 3000 {
		m.PostUserMessage(i)
		l.wait(t, 1)
	}
}

package actors

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/messages"
)

// The gate's promises, under concurrent senders: a partition is announced once per transaction;
// every record admitted before End was admitted before End's operation was handed over (so the
// commit's flush covers it), and none is admitted after; outside a transaction, or with an error
// set, records are refused with why.
func TestTxnGateOrdersRecordsBeforeTheEnd(t *testing.T) {
	sys := quietSystem()
	defer sys.Shutdown()
	var mu sync.Mutex
	announced := map[messages.TopicPartition]int{}
	pid := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case txnRecord:
			mu.Lock()
			announced[m.tp]++
			mu.Unlock()
		case chan struct{}: // sent after every announcement: they are all counted
			close(m)
		}
	}))
	g := newTxnGate()
	g.setActor(pid, pid, sys.Root)

	if err := g.Enter(txnTP("t", 0)); !errors.Is(err, ErrTransactionState) {
		t.Fatalf("outside a transaction: %v", err)
	}
	for round := range 20 {
		g.Begin()
		var admitted, late atomic.Int64
		var ended atomic.Bool
		var admittedAtEnd int64
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					err := g.Enter(txnTP("t", int32((w+i)%8)))
					if err != nil {
						if !errors.Is(err, ErrTransactionState) {
							t.Errorf("refused with %v", err)
						}
						return
					}
					if ended.Load() {
						late.Add(1)
					}
					admitted.Add(1)
					g.Exit()
				}
			}()
		}
		time.Sleep(time.Millisecond)
		g.End(func() {
			ended.Store(true)
			admittedAtEnd = admitted.Load()
		})
		wg.Wait()
		if late.Load() != 0 || admitted.Load() != admittedAtEnd {
			t.Fatalf("round %d: %d records admitted after the end (%d at the end, %d in all)", round, late.Load(), admittedAtEnd, admitted.Load())
		}
	}
	counted := make(chan struct{})
	sys.Root.Send(pid, counted) // behind every announcement: the senders are done
	<-counted
	mu.Lock()
	if len(announced) != 8 {
		t.Errorf("%d partitions announced, want the 8 the senders entered", len(announced))
	}
	for tp, n := range announced {
		if n > 20 {
			t.Errorf("%v announced %d times in 20 transactions", tp, n)
		}
	}
	mu.Unlock()

	g.Begin()
	g.setErr(fmt.Errorf("%w: boom", messages.ErrFatal))
	if err := g.Enter(txnTP("t", 0)); !errors.Is(err, messages.ErrFatal) {
		t.Fatalf("with a fatal error: %v", err)
	}
	g.Begin() // a fatal error stays
	if err := g.Enter(txnTP("t", 0)); !errors.Is(err, messages.ErrFatal) {
		t.Fatalf("after Begin with a fatal error: %v", err)
	}
}

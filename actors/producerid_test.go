package actors

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// The identity core is driven step by step, as the sender would, with no actor system: each step
// checks the effects it returns.

func newIdentityCore() *identityCore {
	return &identityCore{retryBackoff: 10 * time.Millisecond, retryBackoffMax: time.Second}
}

func initAnswer(id int64, epoch int16) *wire.InitProducerIDResponse {
	return &wire.InitProducerIDResponse{ProducerID: id, ProducerEpoch: epoch}
}

func TestIdentityCoreFirstFetch(t *testing.T) {
	ic := newIdentityCore()
	ok, e := ic.ready()
	if ok || !e.fetch || e.fetchGen != 1 {
		t.Fatalf("ready() = %v %+v, want not ready and a fetch tagged 1", ok, e)
	}
	if ok, e := ic.ready(); ok || e.fetch {
		t.Fatalf("second ready() = %v %+v: one fetch at a time", ok, e)
	}
	// No broker to ask: retry after a backoff, then fetch again under a new tag.
	e = ic.noBroker()
	if e.retryAfter <= 0 || e.fetch {
		t.Fatalf("noBroker() = %+v, want a retry timer", e)
	}
	if e := ic.retryDue(e.fetchGen + 5); e.fetch {
		t.Fatalf("a stale retry fetched: %+v", e)
	}
	e = ic.retryDue(1)
	if !e.fetch || e.fetchGen != 2 {
		t.Fatalf("retryDue(1) = %+v, want a fetch tagged 2", e)
	}
	if e := ic.answered(1, initAnswer(9, 0), nil); e.publish != nil {
		t.Fatalf("an answer to the old tag was taken: %+v", e)
	}
	// A retriable error: back off, with a longer wait each time.
	e1 := ic.answered(2, nil, fmt.Errorf("%w: connection reset", messages.ErrConnection))
	if e1.retryAfter <= 0 || e1.publish != nil || e1.fail != nil {
		t.Fatalf("retriable failure: %+v, want a retry", e1)
	}
	e = ic.retryDue(2)
	e = ic.answered(e.fetchGen, initAnswer(0, 0), wire.ErrCoordinatorNotAvailable)
	if e.retryAfter <= 0 {
		t.Fatalf("COORDINATOR_NOT_AVAILABLE: %+v, want a retry", e)
	}
	e = ic.retryDue(3)
	e = ic.answered(e.fetchGen, initAnswer(77, 3), nil)
	if e.publish == nil || *e.publish != (producerIdentity{ID: 77, Epoch: 3, Gen: 1}) {
		t.Fatalf("answer: %+v, want identity 77/3 generation 1 published", e)
	}
	if ok, e := ic.ready(); !ok || e.fetch {
		t.Fatalf("ready() after the answer = %v %+v", ok, e)
	}
}

func TestIdentityCoreBumps(t *testing.T) {
	a, b := actor.NewPID("local", "acc-a"), actor.NewPID("local", "acc-b")
	ic := newIdentityCore()
	ic.current = &producerIdentity{ID: 77, Epoch: 3, Gen: 1}

	// A bump for an older generation: already newer, wake the asker at once.
	if e := ic.bump(0, false, a); len(e.wake) != 1 || e.wake[0] != a || e.publish != nil {
		t.Fatalf("stale bump: %+v", e)
	}
	// A local bump (KIP-360): epoch + 1, a new generation, the asker woken after the publish.
	e := ic.bump(1, false, a)
	if e.publish == nil || *e.publish != (producerIdentity{ID: 77, Epoch: 4, Gen: 2}) || len(e.wake) != 1 || e.wake[0] != a {
		t.Fatalf("local bump: %+v", e)
	}
	// The broker does not know the id: fetch a new one; bumps meanwhile wait for it.
	e = ic.bump(2, true, a)
	if !e.fetch || e.publish != nil {
		t.Fatalf("new id: %+v, want a fetch", e)
	}
	if ok, _ := ic.ready(); ok {
		t.Fatal("ready while a new id is being fetched")
	}
	if e := ic.bump(2, false, b); e.fetch || e.publish != nil || len(e.wake) != 0 {
		t.Fatalf("bump during a fetch: %+v, want it to wait", e)
	}
	e = ic.answered(e.fetchGen, initAnswer(88, 0), nil)
	if e.publish == nil || *e.publish != (producerIdentity{ID: 88, Epoch: 0, Gen: 3}) || len(e.wake) != 2 {
		t.Fatalf("new id answered: %+v, want 88/0 generation 3 and both waiters woken", e)
	}
	// An exhausted epoch also needs a new id.
	ic.current = &producerIdentity{ID: 88, Epoch: math.MaxInt16, Gen: 3}
	if e := ic.bump(3, false, a); !e.fetch {
		t.Fatalf("bump at the last epoch: %+v, want a fetch", e)
	}
}

func TestIdentityCoreFatal(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"CLUSTER_AUTHORIZATION_FAILED", wire.ErrClusterAuthorizationFailed},
		{"TRANSACTIONAL_ID_AUTHORIZATION_FAILED", wire.ErrTransactionalIDAuthorizationFailed},
		{"no common version", fmt.Errorf("%w: InitProducerId", wire.ErrUnsupportedVersion)},
		{"INVALID_REQUEST", wire.ErrorForCode(42)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic := newIdentityCore()
			_, e := ic.ready()
			e = ic.answered(e.fetchGen, initAnswer(0, 0), tc.err)
			if !errors.Is(e.fail, messages.ErrFatal) || !errors.Is(e.fail, tc.err) || e.retryAfter != 0 {
				t.Fatalf("effects %+v, want a fatal error wrapping %v", e, tc.err)
			}
			if ok, e := ic.ready(); ok || e.fetch {
				t.Fatalf("a failed producer asks for no id: %v %+v", ok, e)
			}
			if e := ic.failWith(errors.New("again")); e.fail != nil {
				t.Fatalf("failing twice announced twice: %+v", e)
			}
		})
	}
}

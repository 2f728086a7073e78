package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/internal/queue"
	"github.com/kastor-go/kastor/messages"
)

// Inbox is the queue in front of one accumulator: callers push records (and flush markers) into it
// and the accumulator takes them all at once when poked. It exists because a mailbox cannot be
// trusted with records across a stop: protoactor-go drops the user messages still queued when an
// actor stops, and a message sent after the stop is a dead letter. Either way a record would never
// complete. An Inbox is closed by its accumulator when that stops, under the same lock as every
// push, so each record is either taken by the accumulator (and completed by it) or refused to the
// pusher, who then finds the partition's next accumulator. It also costs less than a message per
// record: a poke is sent only when the inbox goes from empty to not empty.
//
// Invariant: while the inbox holds items, a poke is queued in the accumulator's mailbox that has not
// been handled yet (whoever made it non-empty sent one; handling it takes everything). So any
// message sent to the accumulator after a push is handled after that push's record.
type Inbox struct {
	pid   *actor.PID
	root  *actor.RootContext
	items queue.Queue[inboxItem]

	// stopNotice: why the accumulator stops next, from the producer actor (a restart).
	stopNotice stopNotice
}

// inboxItem is a record to append, or (flush != nil) a flush marker.
type inboxItem struct {
	app   messages.Append
	flush func()
}

// inboxReady is the poke; one shared value, so poking allocates nothing.
type inboxReady struct{}

var pokeInbox = &inboxReady{}

func newInbox(root *actor.RootContext) *Inbox {
	return &Inbox{root: root, stopNotice: newStopNotice()}
}

// PID is the accumulator's PID.
func (in *Inbox) PID() *actor.PID { return in.pid }

// Push queues a record for the accumulator. It returns false, taking nothing, once the accumulator
// has stopped (the producer actor restarted or stopped): the caller still owns the record.
func (in *Inbox) Push(m messages.Append) bool {
	return in.push(inboxItem{app: m})
}

// PushFlush queues a flush marker: done runs on the completion goroutine once every record pushed
// before it has completed. It returns false if the accumulator has stopped; everything pushed
// before was then failed, and completions pushed so far include them.
func (in *Inbox) PushFlush(done func()) bool {
	return in.push(inboxItem{flush: done})
}

func (in *Inbox) push(it inboxItem) bool {
	ok, first := in.items.Push(it)
	if first {
		in.root.Send(in.pid, pokeInbox)
	}
	return ok
}

// take returns everything queued and gives the inbox spare (emptied) as its next buffer, so a
// steady stream allocates nothing. Accumulator only.
func (in *Inbox) take(spare []inboxItem) []inboxItem { return in.items.Take(spare) }

// closeWith refuses every later push and hands what is still queued to fail, under the lock: a
// pusher that then finds the inbox closed knows the items queued before it were already completed
// (pushed to the Completer), so a flush it asks of the Completer runs after them. Accumulator only.
func (in *Inbox) closeWith(fail func([]inboxItem)) { in.items.CloseWith(fail) }

//go:build kastor_faultinject

package faultinject

import (
	"sync/atomic"

	"github.com/kastor-go/kastor/messages"
)

var (
	accumulatorAppend atomic.Pointer[func(messages.TopicPartition)]
	connectionCall    atomic.Pointer[func(node int32)]
	senderRoute       atomic.Pointer[func()]
	accumulatorAdded  atomic.Pointer[func(messages.TopicPartition)]
)

// OnAccumulatorAppended sets a hook run by accumulators right after a record joined a batch (nil
// clears it).
func OnAccumulatorAppended(fn func(messages.TopicPartition)) {
	if fn == nil {
		accumulatorAdded.Store(nil)
		return
	}
	accumulatorAdded.Store(&fn)
}

// AccumulatorAppended runs that hook, if any.
func AccumulatorAppended(tp messages.TopicPartition) {
	if fn := accumulatorAdded.Load(); fn != nil {
		(*fn)(tp)
	}
}

// OnSenderRoute sets a hook run by the sender before it handles a PartitionReady (nil clears it).
func OnSenderRoute(fn func()) {
	if fn == nil {
		senderRoute.Store(nil)
		return
	}
	senderRoute.Store(&fn)
}

// SenderRoute runs the sender hook, if any.
func SenderRoute() {
	if fn := senderRoute.Load(); fn != nil {
		(*fn)()
	}
}

// OnAccumulatorAppend sets a hook run by accumulators before they append a record (nil clears it).
func OnAccumulatorAppend(fn func(messages.TopicPartition)) {
	if fn == nil {
		accumulatorAppend.Store(nil)
		return
	}
	accumulatorAppend.Store(&fn)
}

// OnConnectionCall sets a hook run by connections before they handle a Call (nil clears it).
func OnConnectionCall(fn func(node int32)) {
	if fn == nil {
		connectionCall.Store(nil)
		return
	}
	connectionCall.Store(&fn)
}

// AccumulatorAppend runs the accumulator hook, if any.
func AccumulatorAppend(tp messages.TopicPartition) {
	if fn := accumulatorAppend.Load(); fn != nil {
		(*fn)(tp)
	}
}

// ConnectionCall runs the connection hook, if any.
func ConnectionCall(node int32) {
	if fn := connectionCall.Load(); fn != nil {
		(*fn)(node)
	}
}

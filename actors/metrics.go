package actors

import "github.com/kastor-go/kastor/messages"

// recordsIn counts the records among taken inbox items (flush markers are not records), for the
// records-queued gauge: once per take, not per record.
func recordsIn(items []inboxItem) int {
	n := 0
	for i := range items {
		if items[i].flush == nil {
			n++
		}
	}
	return n
}

// abandonCalls takes the requests still out off the in-flight gauges when the sender stops: a
// stopping actor still handles the answers its stopping connections send, but those that come
// after it stopped are never handled.
func (s *senderState) abandonCalls() {
	for pc := range s.calls {
		s.meterAbandoned(pc)
	}
}

// meterAnswer and meterAbandoned take a request off the in-flight gauges once, whichever comes
// first.
func (s *senderState) meterAnswer(pc *produceCall, m *messages.CallDone) {
	if !pc.metered {
		pc.metered = true
		s.shared.Metrics.RequestDone(pc.sentNs, pc.batches, m.Resp, m.Err)
	}
}

func (s *senderState) meterAbandoned(pc *produceCall) {
	if !pc.metered {
		pc.metered = true
		s.shared.Metrics.RequestAbandoned(pc.batches)
	}
}

package actors

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

// abandonCalls takes the requests still out off the in-flight gauges when the sender stops for
// good: their answers will never be handled (the accumulators fail their batches as they stop).
func (s *senderState) abandonCalls() {
	for pc := range s.calls {
		s.shared.Metrics.RequestAbandoned(pc.batches)
	}
	clear(s.calls)
}

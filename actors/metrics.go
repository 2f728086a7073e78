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

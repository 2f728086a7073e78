package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

func snapshot(brokers map[int32]string, topics map[string][]int32) *Cluster {
	cl := &Cluster{Brokers: brokers, Topics: map[string]*TopicInfo{}}
	for name, leaders := range topics {
		ti := &TopicInfo{}
		for _, l := range leaders {
			ti.Partitions = append(ti.Partitions, PartitionInfo{Leader: l, LeaderEpoch: 1})
		}
		cl.Topics[name] = ti
	}
	return cl
}

func leadersOf(n int, leader func(p int) int32) []int32 {
	out := make([]int32, n)
	for p := range out {
		out[p] = leader(p)
	}
	return out
}

// changeLine renders a clusterChange the way a test compares it: level, message, attributes.
func changeLine(ch clusterChange) string {
	return fmt.Sprintf("%s %s %v", ch.Level, ch.Msg, ch.Attrs)
}

func TestClusterChanges(t *testing.T) {
	three := map[int32]string{1: "h:1", 2: "h:2", 3: "h:3"}
	empty := &Cluster{Brokers: map[int32]string{}, Topics: map[string]*TopicInfo{}}
	steady := snapshot(three, map[string][]int32{"t": leadersOf(1000, func(p int) int32 { return int32(p%3 + 1) })})

	tests := []struct {
		name     string
		old, cur *Cluster
		want     []string
	}{
		{
			name: "first snapshot is Debug",
			old:  empty,
			cur:  steady,
			want: []string{
				"DEBUG learnt the cluster's brokers [count 3 sample [1@h:1 2@h:2 3@h:3]]",
				"DEBUG topics available [count 1 sample [t (1000 partitions)]]",
			},
		},
		{name: "no change, no line", old: steady, cur: steady},
		{
			// Broker 1 leaves, its 334 partitions move to 2, then it comes back on a new port and a
			// fourth broker joins: one line per kind, 1,000 partitions summarised in a count.
			name: "a broker restarts elsewhere; 1,000 partitions",
			old:  steady,
			cur: snapshot(map[int32]string{1: "h:11", 2: "h:2", 3: "h:3", 4: "h:4"}, map[string][]int32{
				"t": leadersOf(1000, func(p int) int32 {
					if p%3 == 0 {
						return 2
					}
					return int32(p%3 + 1)
				}),
			}),
			want: []string{
				"INFO kastor: brokers joined the cluster [count 1 sample [4@h:4]]",
				"INFO kastor: brokers changed address [count 1 sample [1: h:1→h:11]]",
				"INFO kastor: partition leaders changed [count 334 sample [t/0: 1→2 t/3: 1→2 t/6: 1→2 t/9: 1→2 t/12: 1→2] topics 1]",
			},
		},
		{
			name: "a broker leaves; its partitions lose their leader; a topic grows",
			old:  snapshot(three, map[string][]int32{"a": {1, 2}, "b": {3, 1}}),
			cur:  snapshot(map[int32]string{2: "h:2", 3: "h:3"}, map[string][]int32{"a": {-1, 2, 3, -1}, "b": {3, -1}}),
			want: []string{
				"INFO kastor: brokers left the cluster [count 1 sample [1@h:1]]",
				"INFO kastor: topic partition counts changed [count 1 sample [a: 2→4]]",
				"INFO kastor: partitions have no leader [count 3 sample [a/0 (was 1) a/3 (new) b/1 (was 1)] topics 2]",
			},
		},
		{
			// A topic dropped from the refreshes (nobody uses it) or answered with an error is
			// not a change this reports.
			name: "topic dropped or erroring",
			old:  snapshot(three, map[string][]int32{"a": {1}, "b": {2}}),
			cur: func() *Cluster {
				cl := snapshot(three, map[string][]int32{"b": {2}})
				cl.Topics["b"].Err = errors.New("unknown topic")
				return cl
			}(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, ch := range clusterChanges(tc.old, tc.cur) {
				got = append(got, changeLine(ch))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// recordingHandler keeps every record's level and message.
type recordingHandler struct {
	mu    sync.Mutex
	lines []string // level, message, attributes
	msgs  []string // level, message
}

func (h *recordingHandler) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.msgs)
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	line := r.Level.String() + " " + r.Message
	h.msgs = append(h.msgs, line)
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	h.lines = append(h.lines, line)
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// Connection events: the first connection is Debug, a loss Info, the failed redials Warn (once
// per backoff cycle), the recovery Info with how long it was down.
func TestConnectionLogLevels(t *testing.T) {
	h := &recordingHandler{}
	sh := NewShared(Settings{ReconnectMax: 0}, slog.New(h), nil, nil)
	lost := errors.New("read: connection reset")
	sh.logConnUp(1, "h:1")
	sh.logConnDown(1, "h:1", true, lost)
	sh.logConnDown(1, "h:1", false, errors.New("dial: refused"))
	sh.logConnDown(1, "h:1", false, errors.New("dial: refused"))
	sh.logConnUp(1, "h:1")
	sh.logConnClosed(1, "h:1", "idle")
	sh.logConnUp(1, "h:1")

	levels := h.messages()
	want := []string{
		"DEBUG broker connection established",
		"INFO kastor: broker connection lost",
		"WARN kastor: broker connection failed",
		"DEBUG broker connection failed",
		"INFO kastor: broker connection re-established",
		"DEBUG broker connection closed",
		"DEBUG broker connection established",
	}
	if !slices.Equal(levels, want) {
		t.Fatalf("got\n%q\nwant\n%q", levels, want)
	}
	if l := h.lines[1]; !strings.Contains(l, "err=read: connection reset") || !strings.Contains(l, "addr=h:1") {
		t.Errorf("the loss does not name its reason and broker: %s", l)
	}
	if l := h.lines[4]; !strings.Contains(l, "down_for=") {
		t.Errorf("the recovery does not say how long it was down: %s", l)
	}
}

// Retries and failures: Warn and Error at most once per topic per second, the rest Debug and
// counted in the next line.
func TestBatchLogRateLimit(t *testing.T) {
	h := &recordingHandler{}
	sh := NewShared(Settings{}, slog.New(h), nil, nil)
	err := errors.New("NOT_ENOUGH_REPLICAS")
	for p := range 1000 {
		sh.logBatchRetry(messages.TopicPartition{Topic: "t", Partition: int32(p)}, 1, 10, err)
		sh.logBatchFailed(messages.TopicPartition{Topic: "t", Partition: int32(p)}, 10, err)
	}
	counts := map[string]int{}
	for _, l := range h.messages() {
		counts[l[:4]]++
	}
	if counts["WARN"] != 1 || counts["ERRO"] != 1 || counts["DEBU"] != 1998 {
		t.Errorf("levels %v, want one WARN, one ERROR, 1998 DEBUG", counts)
	}
}

// A topic's metadata error: a first LEADER_NOT_AVAILABLE (an auto-created topic's first answer) is
// Debug, and Warn once it persists a cycle; other errors (a mistyped topic) are Warn at once; then
// at most once per cycle.
func TestTopicErrorLevels(t *testing.T) {
	h := &recordingHandler{}
	sh := NewShared(Settings{RetryBackoffMax: 50 * time.Millisecond}, slog.New(h), nil, nil)
	now := time.Unix(1000, 0)
	sh.connLog.now = func() time.Time { return now }
	sh.logTopicError("new", wire.ErrLeaderNotAvailable)
	sh.logTopicError("new", wire.ErrLeaderNotAvailable)
	sh.logTopicError("typo", wire.ErrUnknownTopicOrPartition)
	sh.logTopicError("typo", wire.ErrUnknownTopicOrPartition)
	now = now.Add(1100 * time.Millisecond) // the cycle is at least a second
	sh.logTopicError("new", wire.ErrLeaderNotAvailable)
	sh.logTopicError("new", wire.ErrLeaderNotAvailable)
	want := []string{
		"DEBUG metadata names an error for the topic",
		"DEBUG metadata names an error for the topic",
		"WARN kastor: metadata names an error for the topic",
		"DEBUG metadata names an error for the topic",
		"WARN kastor: metadata names an error for the topic",
		"DEBUG metadata names an error for the topic",
	}
	if got := h.messages(); !slices.Equal(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

// The records of a transaction the application aborted are what it asked for: Debug, never Error,
// and they do not use up the topic's one Error line of the second.
func TestAbortedTransactionRecordsLogAtDebug(t *testing.T) {
	h := &recordingHandler{}
	sh := NewShared(Settings{}, slog.New(h), nil, nil)
	tp := messages.TopicPartition{Topic: "t"}
	sh.logBatchFailed(tp, 10, fmt.Errorf("%w (t-0)", ErrTransactionAborted))
	sh.logBatchFailed(tp, 10, errors.New("NOT_ENOUGH_REPLICAS"))
	lines := h.messages()
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "DEBU") || !strings.HasPrefix(lines[1], "ERRO") {
		t.Fatalf("lines %q, want the aborted batch at Debug and the next failure at Error", lines)
	}
}

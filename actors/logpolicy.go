package actors

// Logging policy (README "Logging"): a healthy run logs nothing at Info or above; what a healthy
// run does (the first connection to a broker, learning a topic, an idle or shutdown close) is
// Debug. Connection losses and recoveries and changes in the cluster's metadata are Info; a
// retried batch and a failed connection setup are Warn; failed records are Error, once per batch.
// Warn and Error lines are rate-limited per key through connFailureLog so an outage of many
// partitions costs a few lines, with the lines held back counted in the next one. Per-record
// events are never logged above Debug. The decisions live here so the actors only call them.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/kastor-go/kastor/messages"
)

// logSample bounds the examples a summary line lists: counts are exact, the list is not.
const logSample = 5

// connKey names a connection for logConnUp/logConnDown: a broker by its node id (a broker that
// restarts on another address is still the one that was lost), a bootstrap server by its address.
func connKey(node int32, addr string) string {
	if node >= 0 {
		return fmt.Sprintf("conn node %d", node)
	}
	return "conn " + addr
}

// logConnUp logs a connection that came up: Debug the first time, Info after it was lost or
// failed, with how long it was down.
func (sh *Shared) logConnUp(node int32, addr string) {
	if since, ok := sh.connLog.up(connKey(node, addr)); ok {
		sh.Logger.Info("kastor: broker connection re-established", "broker", node, "addr", addr,
			"down_for", time.Since(since).Round(time.Millisecond))
		return
	}
	sh.Logger.Debug("broker connection established", "broker", node, "addr", addr)
}

// logConnDown logs a link that failed. One that was up is lost (Info, with the reason, every
// time: a loss is rare); one that never came up is a failed setup (Warn, rate-limited by
// logConnFailure). Either way the next logConnUp for it is Info.
func (sh *Shared) logConnDown(node int32, addr string, wasUp bool, err error) {
	sh.connLog.down(connKey(node, addr))
	if wasUp {
		sh.Logger.Info("kastor: broker connection lost", "broker", node, "addr", addr, "err", err)
		return
	}
	sh.logConnFailure(node, addr, err)
}

// logConnClosed logs a link kastor closed itself (idle, producer closing, metadata moving to
// another broker): part of a healthy run, so Debug.
func (sh *Shared) logConnClosed(node int32, addr string, reason string) {
	sh.Logger.Debug("broker connection closed", "broker", node, "addr", addr, "reason", reason)
}

// logBatchRetry logs a batch that will be sent again (Java: WARN "Got error produce response ...
// retrying"): Warn at most once per topic per second, the retries in between at Debug and counted
// in the next Warn.
func (sh *Shared) logBatchRetry(tp messages.TopicPartition, attempt, records int, err error) {
	warn, suppressed := sh.connLog.due("retry "+tp.Topic, time.Second)
	level, msg := slog.LevelDebug, "retrying batch"
	if warn {
		level, msg = slog.LevelWarn, "kastor: retrying batch"
	}
	if !sh.Logger.Enabled(context.Background(), level) {
		return
	}
	attrs := []any{"topic", tp.Topic, "partition", tp.Partition, "attempt", attempt, "records", records, "err", err}
	if suppressed > 0 {
		attrs = append(attrs, "retries_since_last_warning", suppressed)
	}
	sh.Logger.Log(context.Background(), level, msg, attrs...)
}

// logBatchFailed logs a batch whose records failed: Error, once per batch (never per record), at
// most once per topic per second; the failed batches in between are at Debug and counted in the
// next Error.
func (sh *Shared) logBatchFailed(tp messages.TopicPartition, records int, err error) {
	if errors.Is(err, ErrTransactionAborted) {
		// The records of a transaction the application aborted: what it asked for, not a failure.
		sh.Logger.Debug("records of an aborted transaction failed", "topic", tp.Topic, "partition", tp.Partition, "records", records)
		return
	}
	errorNow, suppressed := sh.connLog.due("failed "+tp.Topic, time.Second)
	level, msg := slog.LevelDebug, "records failed"
	if errorNow {
		level, msg = slog.LevelError, "kastor: records failed"
	}
	if !sh.Logger.Enabled(context.Background(), level) {
		return
	}
	attrs := []any{"topic", tp.Topic, "partition", tp.Partition, "records", records, "err", err}
	if suppressed > 0 {
		attrs = append(attrs, "failed_batches_since_last_error", suppressed)
	}
	sh.Logger.Log(context.Background(), level, msg, attrs...)
}

// logClusterChanges logs what changed between two snapshots, one line per kind of change.
func (sh *Shared) logClusterChanges(old, cur *Cluster) {
	for _, ch := range clusterChanges(old, cur) {
		sh.Logger.Log(context.Background(), ch.Level, ch.Msg, ch.Attrs...)
	}
}

// clusterChange is one log line about a metadata change.
type clusterChange struct {
	Level slog.Level
	Msg   string
	Attrs []any // key, value pairs as slog takes them
}

// clusterChanges compares two snapshots: at most one line per kind of change (brokers joined,
// left, moved; partition counts changed; leaders moved; partitions without a leader; topics
// learnt), each with an exact count and at most logSample examples, so a refresh of thousands of
// partitions costs a handful of lines. What a healthy start looks like (the first broker list,
// topics learnt) is Debug; changes to what was known are Info. A topic absent from cur is not a
// change: it is dropped once nobody uses it, and a deleted topic comes back with an error, which
// logTopicError reports.
func clusterChanges(old, cur *Cluster) []clusterChange {
	var out []clusterChange
	add := func(level slog.Level, msg string, n int, sample []string, extra ...any) {
		if n == 0 {
			return
		}
		attrs := append([]any{"count", n, "sample", sample}, extra...)
		out = append(out, clusterChange{Level: level, Msg: msg, Attrs: attrs})
	}

	// Brokers.
	var joined, left, moved []string
	var nJoined, nLeft, nMoved int
	for _, id := range sortedIDs(cur.Brokers) {
		addr := cur.Brokers[id]
		was, ok := old.Brokers[id]
		switch {
		case !ok:
			nJoined++
			joined = sampleAppendf(joined, "%d@%s", id, addr)
		case was != addr:
			nMoved++
			moved = sampleAppendf(moved, "%d: %s→%s", id, was, addr)
		}
	}
	for _, id := range sortedIDs(old.Brokers) {
		if _, ok := cur.Brokers[id]; !ok {
			nLeft++
			left = sampleAppendf(left, "%d@%s", id, old.Brokers[id])
		}
	}
	if len(old.Brokers) == 0 {
		add(slog.LevelDebug, "learnt the cluster's brokers", nJoined, joined)
	} else {
		add(slog.LevelInfo, "kastor: brokers joined the cluster", nJoined, joined)
	}
	add(slog.LevelInfo, "kastor: brokers left the cluster", nLeft, left)
	add(slog.LevelInfo, "kastor: brokers changed address", nMoved, moved)

	// Topics and partitions.
	var learnt, resized, leaders, leaderless []string
	var nLearnt, nResized, nLeaders, nLeaderless, leaderTopics, leaderlessTopics int
	topics := make([]string, 0, len(cur.Topics))
	for name := range cur.Topics {
		topics = append(topics, name)
	}
	slices.Sort(topics)
	for _, name := range topics {
		t, was := cur.Topics[name], old.Topics[name]
		if !t.Usable() {
			continue // an error: logTopicError's to report
		}
		if !was.Usable() {
			nLearnt++
			learnt = sampleAppendf(learnt, "%s (%d partitions)", name, len(t.Partitions))
			continue
		}
		if len(was.Partitions) != len(t.Partitions) {
			nResized++
			resized = sampleAppendf(resized, "%s: %d→%d", name, len(was.Partitions), len(t.Partitions))
		}
		movedHere, leaderlessHere := 0, 0
		for p := range min(len(was.Partitions), len(t.Partitions)) {
			before, after := was.Partitions[p].Leader, t.Partitions[p].Leader
			switch {
			case before == after:
			case after < 0:
				leaderlessHere++
				leaderless = sampleAppendf(leaderless, "%s/%d (was %d)", name, p, before)
			default:
				movedHere++
				leaders = sampleAppendf(leaders, "%s/%d: %d→%d", name, p, before, after)
			}
		}
		for p := len(was.Partitions); p < len(t.Partitions); p++ {
			if t.Partitions[p].Leader < 0 {
				leaderlessHere++
				leaderless = sampleAppendf(leaderless, "%s/%d (new)", name, p)
			}
		}
		nLeaders += movedHere
		nLeaderless += leaderlessHere
		if movedHere > 0 {
			leaderTopics++
		}
		if leaderlessHere > 0 {
			leaderlessTopics++
		}
	}
	add(slog.LevelDebug, "topics available", nLearnt, learnt)
	add(slog.LevelInfo, "kastor: topic partition counts changed", nResized, resized)
	add(slog.LevelInfo, "kastor: partition leaders changed", nLeaders, leaders, "topics", leaderTopics)
	add(slog.LevelInfo, "kastor: partitions have no leader", nLeaderless, leaderless, "topics", leaderlessTopics)
	return out
}

// sampleAppendf adds an example to s unless it has logSample already (then nothing is formatted).
func sampleAppendf(s []string, format string, args ...any) []string {
	if len(s) < logSample {
		return append(s, fmt.Sprintf(format, args...))
	}
	return s
}

func sortedIDs(m map[int32]string) []int32 {
	ids := make([]int32, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, cmp.Compare[int32])
	return ids
}

package actors

import (
	"errors"
	"sync"
	"time"

	"github.com/kastor-go/kastor/wire"
)

// connFailureLog rate-limits the Warn lines for a failed connection (and for a topic's metadata
// error): one per broker address per backoff cycle (ReconnectMax, at least a second), so an
// unreachable cluster is visible at the default level without a line per retry. The failures in
// between are logged at Debug and counted in the next Warn.
type connFailureLog struct {
	mu   sync.Mutex
	last map[string]connFailureEntry
	// downSince: connections (connKey) that failed since they were last up, and since when, so
	// the next success is logged as a recovery.
	downSince map[string]time.Time
	// now is the clock (nil: time.Now); tests set their own.
	now func() time.Time
}

func (l *connFailureLog) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

type connFailureEntry struct {
	at         time.Time
	suppressed int
}

// logConnFailure logs a failed connection at Warn, at most once per address per backoff cycle.
func (sh *Shared) logConnFailure(node int32, addr string, err error) {
	warn, suppressed := sh.connLog.due("broker "+addr, max(sh.Settings.ReconnectMax, time.Second))
	if !warn {
		sh.Logger.Debug("broker connection failed", "broker", node, "addr", addr, "err", err)
		return
	}
	if suppressed > 0 {
		sh.Logger.Warn("kastor: broker connection failed", "broker", node, "addr", addr, "err", err, "failures_since_last_warning", suppressed)
		return
	}
	sh.Logger.Warn("kastor: broker connection failed", "broker", node, "addr", addr, "err", err)
}

// logTopicError warns that metadata named an error for a topic a send waits for (Java logs
// "Error while fetching metadata ... UNKNOWN_TOPIC_OR_PARTITION" at WARN), once per topic per
// RetryBackoffMax (at least a second). A first LEADER_NOT_AVAILABLE for a topic is Debug: a topic
// being auto-created answers it once, part of a healthy run; if it persists a cycle it is warned
// about.
func (sh *Shared) logTopicError(topic string, err error) {
	key := "topic " + topic
	warn := sh.connLog.first(key) // starts the cycle
	if warn && errors.Is(err, wire.ErrLeaderNotAvailable) {
		warn = false
	} else if !warn {
		warn, _ = sh.connLog.due(key, max(sh.Settings.RetryBackoffMax, time.Second))
	}
	if warn {
		sh.Logger.Warn("kastor: metadata names an error for the topic", "topic", topic, "err", err)
		return
	}
	sh.Logger.Debug("metadata names an error for the topic", "topic", topic, "err", err)
}

// due reports whether key may warn now (its last warning is at least every old), and how many
// times it was held back since.
func (l *connFailureLog) due(key string, every time.Duration) (warn bool, suppressed int) {
	l.mu.Lock()
	now := l.clock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]connFailureEntry{}
	}
	e := l.last[key]
	if now.Sub(e.at) >= every {
		l.last[key] = connFailureEntry{at: now}
		return true, e.suppressed
	}
	e.suppressed++
	l.last[key] = e
	return false, 0
}

// down notes that the connection key failed, keeping the time of its first failure.
func (l *connFailureLog) down(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.downSince == nil {
		l.downSince = map[string]time.Time{}
	}
	if _, ok := l.downSince[key]; !ok {
		l.downSince[key] = l.clock()
	}
}

// up notes that the connection key is up; ok reports that it had failed, since when.
func (l *connFailureLog) up(key string) (since time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	since, ok = l.downSince[key]
	delete(l.downSince, key)
	return since, ok
}

// first reports whether key was never seen, and starts its cycle now if so: its first warning
// comes a cycle later, from due.
func (l *connFailureLog) first(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]connFailureEntry{}
	}
	if _, ok := l.last[key]; ok {
		return false
	}
	l.last[key] = connFailureEntry{at: l.clock()}
	return true
}

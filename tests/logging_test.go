//go:build linux

package tests

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kastor-go/kastor"
)

// captureProcessOutput sends everything the process writes to stdout and stderr into a pipe until
// the returned function runs: file descriptors 1 and 2 themselves (the log package, slog.Default
// and protoactor's default logger hold os.Stderr from before the test, so swapping the variables
// alone would miss them) and the os.Stdout/os.Stderr variables. The function restores both and
// returns what was written; a cleanup restores them if the test stops early. The tests using it
// must not be parallel: the capture is process-wide (parallel tests run only after the sequential
// ones, so none writes meanwhile).
func captureProcessOutput(t *testing.T) (stop func() []byte) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	savedOut, err := syscall.Dup(1)
	if err != nil {
		t.Fatal(err)
	}
	savedErr, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	if err := syscall.Dup3(int(w.Fd()), 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup3(int(w.Fd()), 2, 0); err != nil {
		t.Fatal(err)
	}
	os.Stdout, os.Stderr = w, w
	var captured bytes.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&captured, r)
		close(copied)
	}()
	var once sync.Once
	stop = func() []byte {
		once.Do(func() {
			os.Stdout, os.Stderr = oldOut, oldErr
			syscall.Dup3(savedOut, 1, 0)
			syscall.Dup3(savedErr, 2, 0)
			syscall.Close(savedOut)
			syscall.Close(savedErr)
			w.Close() // the last write end: the copy sees EOF
			<-copied
			r.Close()
		})
		return captured.Bytes()
	}
	t.Cleanup(func() {
		// With -v, a failure reported while captured went into the pipe: show it.
		if out := stop(); t.Failed() && len(out) > 0 {
			os.Stderr.Write(out)
		}
	})
	return stop
}

// logRecorder is a slog handler that keeps every record, at every level.
type logRecorder struct {
	mu    sync.Mutex
	lines []loggedLine
}

type loggedLine struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l := loggedLine{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		l.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	h.lines = append(h.lines, l)
	h.mu.Unlock()
	return nil
}

func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &withAttrs{h: h, attrs: as}
}

func (h *logRecorder) WithGroup(string) slog.Handler { return h }

// withAttrs keeps a logger's With attributes (protoactor's lib=protoactor) on its records.
type withAttrs struct {
	h     *logRecorder
	attrs []slog.Attr
}

func (w *withAttrs) Enabled(ctx context.Context, l slog.Level) bool { return true }
func (w *withAttrs) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(w.attrs...)
	return w.h.Handle(ctx, r)
}
func (w *withAttrs) WithAttrs(as []slog.Attr) slog.Handler {
	return &withAttrs{h: w.h, attrs: append(append([]slog.Attr(nil), w.attrs...), as...)}
}
func (w *withAttrs) WithGroup(string) slog.Handler { return w }

func (h *logRecorder) snapshot() []loggedLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]loggedLine(nil), h.lines...)
}

// atLeast returns the lines at level or above, rendered for a failure message.
func (h *logRecorder) atLeast(level slog.Level) []string {
	var out []string
	for _, l := range h.snapshot() {
		if l.level >= level {
			out = append(out, l.level.String()+" "+l.msg+" "+attrString(l.attrs))
		}
	}
	return out
}

func (h *logRecorder) find(level slog.Level, msg string, attrs map[string]string) bool {
	for _, l := range h.snapshot() {
		if l.level != level || l.msg != msg {
			continue
		}
		match := true
		for k, v := range attrs {
			if l.attrs[k] != v {
				match = false
			}
		}
		if match {
			return true
		}
	}
	return false
}

func attrString(m map[string]string) string {
	var b strings.Builder
	for k, v := range m {
		b.WriteString(k + "=" + v + " ")
	}
	return b.String()
}

// value100 is a 100-byte record value that still reads back as record i.
func value100(i int) []byte {
	v := value(i)
	return append(v, bytes.Repeat([]byte{'.'}, 100-len(v))...)
}

// sendValues sends n 100-byte records and waits for every callback; none may fail.
func sendValues(t *testing.T, p *kastor.Producer, topic string, n int, pause time.Duration) {
	t.Helper()
	comp := newCompletions()
	for i := 0; i < n; i++ {
		p.SendAsync(context.Background(), &kastor.Record{Topic: topic, Value: value100(i)}, comp.callback(i))
		if pause > 0 && i%100 == 99 {
			time.Sleep(pause)
		}
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	comp.wait(t, time.Minute)
	for i := 0; i < n; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

// The default workload on a healthy 3-broker cluster prints nothing on the process's stdout or
// stderr and logs nothing at Info or above: not with a Logger at Info, not with a nil Logger
// (slog.Default, which prints on stderr), and not from protoactor. The Debug lines show the
// logger is wired (the first connections are logged there).
func TestHealthyRunLogsNothingAtInfo(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(6, "t"))
	stop := captureProcessOutput(t)

	rec := &logRecorder{}
	withLogger := newProducer(t, c, func(cfg *kastor.Config) { cfg.Logger = slog.New(rec) })
	nilLogger := newProducer(t, c, func(cfg *kastor.Config) { cfg.Logger = nil })
	for _, p := range []*kastor.Producer{withLogger, nilLogger} {
		sendValues(t, p, "t", 5000, 0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range []*kastor.Producer{withLogger, nilLogger} {
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}

	printed := stop()
	if len(printed) != 0 {
		t.Errorf("printed on stdout/stderr during a healthy run: %q", printed)
	}
	if lines := rec.atLeast(slog.LevelInfo); len(lines) > 0 {
		t.Errorf("logged at Info or above during a healthy run:\n%s", strings.Join(lines, "\n"))
	}
	if !rec.find(slog.LevelDebug, "broker connection established", nil) {
		t.Error("no Debug line for the first connections: is Config.Logger used at all?")
	}
}

// A broker that goes away (its listener closed, its connections reset) and comes back on a new port
// shows as connection lost and re-established at Info in the Logger, with the metadata changes,
// and still nothing is printed on stdout or stderr.
func TestBrokerRestartLogsConnectionEvents(t *testing.T) {
	const partitions = 6
	c := newCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(partitions, "t"))
	conns := &connTracker{}
	stop := captureProcessOutput(t)

	rec := &logRecorder{}
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Logger = slog.New(rec)
		cfg.Dialer = conns.dial
		cfg.RetryBackoff = 10 * time.Millisecond
		cfg.ReconnectBackoff = 10 * time.Millisecond
		cfg.ReconnectBackoffMax = 100 * time.Millisecond
	})
	// Every partition, so every broker has a connection up.
	sendToPartitions(t, p, "t", partitions, 100)
	node := c.LeaderFor("t", 0)
	if err := c.RemoveNode(node); err != nil {
		t.Fatal(err)
	}
	// The broker died: its connections reset. The records move to the new leaders.
	if n := conns.closeAllBut(c.ListenAddrs()); n == 0 {
		t.Fatal("no connection to the removed broker")
	}
	sendToPartitions(t, p, "t", partitions, 100)
	if _, _, err := c.AddNode(node, 0); err != nil {
		t.Fatal(err)
	}
	// The broker is back but leads nothing: give it partition 0, whose next records find it.
	if err := c.MoveTopicPartition("t", 0, node); err != nil {
		t.Fatal(err)
	}
	sendToPartitions(t, p, "t", 1, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}

	printed := stop()
	if len(printed) != 0 {
		t.Errorf("printed on stdout/stderr: %q", printed)
	}
	broker := map[string]string{"broker": strconv.Itoa(int(node))}
	for _, msg := range []string{"kastor: broker connection lost", "kastor: broker connection re-established"} {
		if !rec.find(slog.LevelInfo, msg, broker) {
			t.Errorf("no Info %q for broker %d; at Info and above:\n%s", msg, node, strings.Join(rec.atLeast(slog.LevelInfo), "\n"))
		}
	}
	for _, msg := range []string{"kastor: partition leaders changed", "kastor: brokers left the cluster", "kastor: brokers joined the cluster"} {
		if !rec.find(slog.LevelInfo, msg, nil) {
			t.Errorf("no Info %q; at Info and above:\n%s", msg, strings.Join(rec.atLeast(slog.LevelInfo), "\n"))
		}
	}
}

// sendToPartitions sends perPartition 100-byte records to each of partitions [0, n) and waits for
// them; none may fail.
func sendToPartitions(t *testing.T, p *kastor.Producer, topic string, n, perPartition int) {
	t.Helper()
	comp := newCompletions()
	for i := 0; i < n*perPartition; i++ {
		p.SendAsync(context.Background(), &kastor.Record{Topic: topic, Partition: kastor.PartitionOf(int32(i % n)), Value: value100(i)}, comp.callback(i))
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	comp.wait(t, time.Minute)
	for i := 0; i < n*perPartition; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

// connTracker dials for the producer and keeps the connections, so a test can reset them all the
// way a broker that dies does (kfake's RemoveNode closes the listener only).
type connTracker struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (ct *connTracker) dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err == nil {
		ct.mu.Lock()
		ct.conns = append(ct.conns, conn)
		ct.mu.Unlock()
	}
	return conn, err
}

// closeAllBut closes the connections to any address not in keep; it returns how many it closed.
func (ct *connTracker) closeAllBut(keep []string) int {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	n := 0
	for _, conn := range ct.conns {
		if !slices.Contains(keep, conn.RemoteAddr().String()) {
			conn.Close()
			n++
		}
	}
	return n
}

package kastor

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// An actor system built with ActorSystemOptions prints nothing on stdout or stderr: protoactor's
// Info line "actor system started" is neither printed nor passed on below Warn.
func TestActorSystemOptionsQuiet(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = w, w
	var logged bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sys := actor.NewActorSystem(ActorSystemOptions(logger)...)
	pid := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Error(err)
	}
	sys.Shutdown()
	os.Stdout, os.Stderr = oldOut, oldErr
	w.Close()
	printed, _ := io.ReadAll(r)
	r.Close()
	if len(printed) != 0 {
		t.Errorf("printed on stdout/stderr: %q", printed)
	}
	if strings.Contains(logged.String(), "started") {
		t.Errorf("protoactor's Info line passed to the logger: %q", logged.String())
	}
}

// protoactor's own lines at Warn and above reach the producer's Logger, marked lib=protoactor;
// its Info lines (the system's start, "[ACTOR] Recovering" on every connection failure) do not.
// The producer's private actor system is checked through the logger protoactor itself uses.
func TestProducerActorSystemLogsToTheLogger(t *testing.T) {
	var logged bytes.Buffer
	cfg := DefaultConfig()
	cfg.BootstrapServers = []string{"127.0.0.1:1"} // unreachable: only the probes matter here
	cfg.Logger = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.sys.Logger().Info("protoactor info probe")
	p.sys.Logger().Error("protoactor error probe")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.Close(ctx)
	out := logged.String()
	if !strings.Contains(out, `msg="protoactor error probe" lib=protoactor`) {
		t.Errorf("protoactor's Error line did not reach the Logger: %q", out)
	}
	if strings.Contains(out, "info probe") || strings.Contains(out, "actor system started") {
		t.Errorf("protoactor's Info lines reached the Logger: %q", out)
	}
}

package kastor

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

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

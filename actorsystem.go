package kastor

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// ActorSystemOptions returns the options kastor uses for the actor system it makes when
// Config.ActorSystem is nil. Build a shared system with them so that protoactor's own logging
// goes to logger (nil: slog.Default()) at Warn and above instead of being printed on its own,
// and so that a dead letter's goroutine does not outlive Shutdown long enough to trip goleak:
//
//	sys := actor.NewActorSystem(kastor.ActorSystemOptions(logger)...)
func ActorSystemOptions(logger *slog.Logger) []actor.ConfigOption {
	if logger == nil {
		logger = slog.Default()
	}
	return []actor.ConfigOption{
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(minLevel{h: logger.Handler(), min: slog.LevelWarn}).With("lib", "protoactor")
		}),
		// A dead letter starts a goroutine that lives this long; keep it short so Close
		// leaves nothing behind.
		actor.WithDeadLetterThrottleInterval(10 * time.Millisecond),
	}
}

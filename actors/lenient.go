package actors

import (
	"log/slog"

	"github.com/kastor-go/kastor/wire"
)

// logTrailingBytes notes, at Debug, a response that carried bytes after the last field of its
// version. They are ignored, as Kafka's own clients ignore them (librdkafka's mock cluster sends
// them); the line is there for whoever debugs a broker implementation, not an error.
func logTrailingBytes(logger *slog.Logger, addr string, key, version int16, trailing int) {
	if trailing == 0 || logger == nil {
		return
	}
	logger.Debug("ignored trailing bytes in broker response", "addr", addr,
		"api", wire.APIName(key), "version", version, "bytes", trailing)
}

package messages

import "errors"

// Errors kastor itself reports (Kafka's own error codes are wire.Error values). The root package
// re-exports them; they live here so every actor can return them.
var (
	// ErrProducerClosed: the producer was closed before the record could be sent or acknowledged.
	ErrProducerClosed = errors.New("kastor: producer closed")
	// ErrRecordTooLarge: the record can never be sent (larger than MaxRequestSize or BufferMemory).
	ErrRecordTooLarge = errors.New("kastor: record too large")
	// ErrDeliveryTimeout: the record was not acknowledged within DeliveryTimeout.
	ErrDeliveryTimeout = errors.New("kastor: delivery timeout expired")
	// ErrTimeout: a blocking step of a send (metadata, buffer memory) exceeded MaxBlock.
	ErrTimeout = errors.New("kastor: timeout")
	// ErrConnection: the connection to a broker failed; the request may or may not have been
	// written. Retriable.
	ErrConnection = errors.New("kastor: broker connection failed")
	// ErrRequestTimeout: a broker did not answer within RequestTimeout; the connection is closed.
	// Retriable.
	ErrRequestTimeout = errors.New("kastor: request timed out")
	// ErrInternal: a bug in kastor was caught (a panic inside an actor); the record was failed
	// rather than lost.
	ErrInternal = errors.New("kastor: internal error")
	// ErrFatal is wrapped by the error of a producer in a fatal state (authorization, fencing, a
	// cluster without idempotence support): nothing more can be sent until it is restarted.
	ErrFatal = errors.New("kastor: producer failed")
	// ErrProducerRestarted: the producer actor was restarted by its supervisor (after a fatal error
	// it escalated, or a panic) while it held the record; the record may or may not have been
	// written. Records sent after the restart go to the restarted producer.
	ErrProducerRestarted = errors.New("kastor: producer restarted")
	// ErrAuthentication: a broker rejected the SASL login (wrong credentials, a mechanism it does
	// not enable) or the TLS handshake failed verification. The error names the broker and the
	// mechanism. Connections retry with the reconnect backoff.
	ErrAuthentication = errors.New("kastor: authentication failed")
)

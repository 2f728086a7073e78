package wire

import "fmt"

// zstdMinProduceVersion is the first Produce version that may carry zstd batches (Kafka 2.1,
// KIP-110). A broker answers older versions' zstd batches with UNSUPPORTED_COMPRESSION_TYPE.
const zstdMinProduceVersion = 7

// UnsupportedCompressionError says a batch's codec cannot travel at the Produce version negotiated
// with a broker. It unwraps to ErrUnsupportedCompressionType (errors.Is), the broker's own answer,
// which is final (not retriable): the broker will not learn the codec by waiting.
type UnsupportedCompressionError struct {
	Codec Codec
	// ProduceVersion is the Produce version kastor and the broker share (the broker's newest).
	ProduceVersion int16
	// MinVersion is the first Produce version that carries Codec.
	MinVersion int16
}

func (e *UnsupportedCompressionError) Error() string {
	return fmt.Sprintf("kastor/wire: %s compression needs Produce v%d+ (Kafka 2.1+), the broker speaks Produce up to v%d: %v",
		e.Codec, e.MinVersion, e.ProduceVersion, ErrUnsupportedCompressionType)
}

// Unwrap returns ErrUnsupportedCompressionType.
func (e *UnsupportedCompressionError) Unwrap() error { return ErrUnsupportedCompressionType }

// CheckRequestVersion reports what req cannot carry at version, which negotiation alone does not
// show: a zstd batch in a Produce request below v7. The Java client refuses such a request before
// sending it; kastor does the same, so the records fail with a message naming the codec and the
// broker's version instead of the broker's bare error code.
func CheckRequestVersion(req Request, version int16) error {
	p, ok := req.(*ProduceRequest)
	if !ok || version >= zstdMinProduceVersion {
		return nil
	}
	for _, t := range p.Topics {
		for _, part := range t.Partitions {
			// The codec is bits 0–2 of the batch's int16 attributes, i.e. of its low byte.
			if len(part.Records) > batchAttributesOffset+1 &&
				Codec(part.Records[batchAttributesOffset+1]&7) == CodecZstd {
				return &UnsupportedCompressionError{Codec: CodecZstd, ProduceVersion: version, MinVersion: zstdMinProduceVersion}
			}
		}
	}
	return nil
}

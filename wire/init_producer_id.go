package wire

// InitProducerIDRequest obtains a producer id and epoch for idempotent or transactional producing
// (key 22, v0–v5).
type InitProducerIDRequest struct {
	// TransactionalID is nil for an idempotent (non-transactional) producer.
	TransactionalID          *string
	TransactionTimeoutMillis int32
	// ProducerID and ProducerEpoch (v3+, KIP-360) are the current id and epoch when bumping the
	// epoch; set both to -1 for a fresh id. They are not written before v3.
	ProducerID    int64
	ProducerEpoch int16
}

// Key returns KeyInitProducerID.
func (*InitProducerIDRequest) Key() int16 { return KeyInitProducerID }

// MinVersion is the lowest InitProducerId version kastor speaks.
func (*InitProducerIDRequest) MinVersion() int16 { return 0 }

// MaxVersion is the highest InitProducerId version kastor speaks.
func (*InitProducerIDRequest) MaxVersion() int16 { return 5 }

// IsFlexible reports whether version is flexible (v2+).
func (*InitProducerIDRequest) IsFlexible(version int16) bool { return version >= 2 }

// ResponseKind returns a new *InitProducerIDResponse.
func (*InitProducerIDRequest) ResponseKind() Response { return new(InitProducerIDResponse) }

// AppendTo appends the request body encoded at version.
func (req *InitProducerIDRequest) AppendTo(dst []byte, version int16) []byte {
	flex := version >= 2
	dst = apiAppendNullableString(dst, req.TransactionalID, flex)
	dst = AppendInt32(dst, req.TransactionTimeoutMillis)
	if version >= 3 {
		dst = AppendInt64(dst, req.ProducerID)
		dst = AppendInt16(dst, req.ProducerEpoch)
	}
	if flex {
		dst = AppendEmptyTags(dst)
	}
	return dst
}

// InitProducerIDResponse carries the producer id and epoch to stamp on record batches.
type InitProducerIDResponse struct {
	ThrottleMillis int32
	ErrorCode      int16
	ProducerID     int64
	ProducerEpoch  int16
}

// Key returns KeyInitProducerID.
func (*InitProducerIDResponse) Key() int16 { return KeyInitProducerID }

// decode decodes the response body at version (0–5).
func (resp *InitProducerIDResponse) decode(src []byte, version int16) (int, error) {
	if err := apiCheckVersion(KeyInitProducerID, version, 0, 5); err != nil {
		return 0, err
	}
	r := NewReader(src)
	resp.ThrottleMillis = r.Int32()
	resp.ErrorCode = r.Int16()
	resp.ProducerID = r.Int64()
	resp.ProducerEpoch = r.Int16()
	if version >= 2 {
		r.SkipTags()
	}
	return r.finish()
}

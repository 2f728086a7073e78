package wire

// EndTxnRequest commits or aborts the producer's open transaction (key 26, v0–v5). From v5
// (KIP-890, transactions v2) the coordinator bumps the producer epoch at the end of every
// transaction and answers with the producer id and epoch to use next.
type EndTxnRequest struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	// Commit is true to commit, false to abort.
	Commit bool
}

// Key returns KeyEndTxn.
func (*EndTxnRequest) Key() int16 { return KeyEndTxn }

// MinVersion is the lowest EndTxn version kastor speaks.
func (*EndTxnRequest) MinVersion() int16 { return 0 }

// MaxVersion is the highest EndTxn version kastor speaks.
func (*EndTxnRequest) MaxVersion() int16 { return 5 }

// IsFlexible reports whether version is flexible (v3+).
func (*EndTxnRequest) IsFlexible(version int16) bool { return version >= 3 }

// ResponseKind returns a new *EndTxnResponse.
func (*EndTxnRequest) ResponseKind() Response { return new(EndTxnResponse) }

// AppendTo appends the request body encoded at version.
func (req *EndTxnRequest) AppendTo(dst []byte, version int16) []byte {
	flex := version >= 3
	dst = apiAppendString(dst, req.TransactionalID, flex)
	dst = AppendInt64(dst, req.ProducerID)
	dst = AppendInt16(dst, req.ProducerEpoch)
	dst = AppendBool(dst, req.Commit)
	if flex {
		dst = AppendEmptyTags(dst)
	}
	return dst
}

// EndTxnResponse is the coordinator's answer.
type EndTxnResponse struct {
	ThrottleMillis int32
	ErrorCode      int16
	// ProducerID and ProducerEpoch (v5+) are the identity for the next transaction; -1 before v5.
	ProducerID    int64
	ProducerEpoch int16
}

// Key returns KeyEndTxn.
func (*EndTxnResponse) Key() int16 { return KeyEndTxn }

// decode decodes the response body at version (0–5).
func (resp *EndTxnResponse) decode(src []byte, version int16) (int, error) {
	if err := apiCheckVersion(KeyEndTxn, version, 0, 5); err != nil {
		return 0, err
	}
	*resp = EndTxnResponse{ProducerID: -1, ProducerEpoch: -1}
	r := NewReader(src)
	resp.ThrottleMillis = r.Int32()
	resp.ErrorCode = r.Int16()
	if version >= 5 {
		resp.ProducerID = r.Int64()
		resp.ProducerEpoch = r.Int16()
	}
	if version >= 3 {
		r.SkipTags()
	}
	return r.finish()
}

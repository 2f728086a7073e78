package wire

// AddOffsetsToTxnRequest adds a consumer group's offsets topic partition to the producer's open
// transaction, before TxnOffsetCommit writes the group's offsets in it (key 25, v0–v4; v4 is
// KIP-890's, which may answer TRANSACTION_ABORTABLE).
type AddOffsetsToTxnRequest struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	GroupID         string
}

// Key returns KeyAddOffsetsToTxn.
func (*AddOffsetsToTxnRequest) Key() int16 { return KeyAddOffsetsToTxn }

// MinVersion is the lowest AddOffsetsToTxn version kastor speaks.
func (*AddOffsetsToTxnRequest) MinVersion() int16 { return 0 }

// MaxVersion is the highest AddOffsetsToTxn version kastor speaks.
func (*AddOffsetsToTxnRequest) MaxVersion() int16 { return 4 }

// IsFlexible reports whether version is flexible (v3+).
func (*AddOffsetsToTxnRequest) IsFlexible(version int16) bool { return version >= 3 }

// ResponseKind returns a new *AddOffsetsToTxnResponse.
func (*AddOffsetsToTxnRequest) ResponseKind() Response { return new(AddOffsetsToTxnResponse) }

// AppendTo appends the request body encoded at version.
func (req *AddOffsetsToTxnRequest) AppendTo(dst []byte, version int16) []byte {
	flex := version >= 3
	dst = apiAppendString(dst, req.TransactionalID, flex)
	dst = AppendInt64(dst, req.ProducerID)
	dst = AppendInt16(dst, req.ProducerEpoch)
	dst = apiAppendString(dst, req.GroupID, flex)
	if flex {
		dst = AppendEmptyTags(dst)
	}
	return dst
}

// AddOffsetsToTxnResponse is the coordinator's answer.
type AddOffsetsToTxnResponse struct {
	ThrottleMillis int32
	ErrorCode      int16
}

// Key returns KeyAddOffsetsToTxn.
func (*AddOffsetsToTxnResponse) Key() int16 { return KeyAddOffsetsToTxn }

// decode decodes the response body at version (0–4).
func (resp *AddOffsetsToTxnResponse) decode(src []byte, version int16) (int, error) {
	if err := apiCheckVersion(KeyAddOffsetsToTxn, version, 0, 4); err != nil {
		return 0, err
	}
	*resp = AddOffsetsToTxnResponse{}
	r := NewReader(src)
	resp.ThrottleMillis = r.Int32()
	resp.ErrorCode = r.Int16()
	if version >= 3 {
		r.SkipTags()
	}
	return r.finish()
}

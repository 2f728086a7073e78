package wire

// TxnOffsetCommitPartition is one partition's offset to commit.
type TxnOffsetCommitPartition struct {
	Partition int32
	Offset    int64
	// LeaderEpoch (v2+) is the leader epoch of the last consumed record, or -1.
	LeaderEpoch int32
	Metadata    *string
}

// TxnOffsetCommitTopic is one topic's offsets to commit.
type TxnOffsetCommitTopic struct {
	Name       string
	Partitions []TxnOffsetCommitPartition
}

// TxnOffsetCommitRequest writes a consumer group's offsets into the producer's open transaction,
// sent to the group's coordinator (key 28, v0–v5). The offsets become the group's committed
// offsets only if the transaction commits.
type TxnOffsetCommitRequest struct {
	TransactionalID string
	GroupID         string
	ProducerID      int64
	ProducerEpoch   int16
	// GenerationID, MemberID and GroupInstanceID (v3+, KIP-447) are the consumer's group
	// metadata, so the coordinator fences a zombie member; -1, "" and nil when unknown.
	GenerationID    int32
	MemberID        string
	GroupInstanceID *string
	Topics          []TxnOffsetCommitTopic
}

// Key returns KeyTxnOffsetCommit.
func (*TxnOffsetCommitRequest) Key() int16 { return KeyTxnOffsetCommit }

// MinVersion is the lowest TxnOffsetCommit version kastor speaks.
func (*TxnOffsetCommitRequest) MinVersion() int16 { return 0 }

// MaxVersion is the highest TxnOffsetCommit version kastor speaks (v6 addresses topics by id; a
// client of Kafka 4.x sends v5 at most).
func (*TxnOffsetCommitRequest) MaxVersion() int16 { return 5 }

// IsFlexible reports whether version is flexible (v3+).
func (*TxnOffsetCommitRequest) IsFlexible(version int16) bool { return version >= 3 }

// ResponseKind returns a new *TxnOffsetCommitResponse.
func (*TxnOffsetCommitRequest) ResponseKind() Response { return new(TxnOffsetCommitResponse) }

// AppendTo appends the request body encoded at version.
func (req *TxnOffsetCommitRequest) AppendTo(dst []byte, version int16) []byte {
	flex := version >= 3
	dst = apiAppendString(dst, req.TransactionalID, flex)
	dst = apiAppendString(dst, req.GroupID, flex)
	dst = AppendInt64(dst, req.ProducerID)
	dst = AppendInt16(dst, req.ProducerEpoch)
	if version >= 3 {
		dst = AppendInt32(dst, req.GenerationID)
		dst = apiAppendString(dst, req.MemberID, flex)
		dst = apiAppendNullableString(dst, req.GroupInstanceID, flex)
	}
	dst = apiAppendArrayLen(dst, len(req.Topics), flex)
	for i := range req.Topics {
		t := &req.Topics[i]
		dst = apiAppendString(dst, t.Name, flex)
		dst = apiAppendArrayLen(dst, len(t.Partitions), flex)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			dst = AppendInt32(dst, p.Partition)
			dst = AppendInt64(dst, p.Offset)
			if version >= 2 {
				dst = AppendInt32(dst, p.LeaderEpoch)
			}
			dst = apiAppendNullableString(dst, p.Metadata, flex)
			if flex {
				dst = AppendEmptyTags(dst)
			}
		}
		if flex {
			dst = AppendEmptyTags(dst)
		}
	}
	if flex {
		dst = AppendEmptyTags(dst)
	}
	return dst
}

// TxnOffsetCommitPartitionResult is the outcome for one partition.
type TxnOffsetCommitPartitionResult struct {
	Partition int32
	ErrorCode int16
}

// TxnOffsetCommitTopicResult is the outcome for one topic's partitions.
type TxnOffsetCommitTopicResult struct {
	Name       string
	Partitions []TxnOffsetCommitPartitionResult
}

// TxnOffsetCommitResponse is the group coordinator's answer, per partition.
type TxnOffsetCommitResponse struct {
	ThrottleMillis int32
	Topics         []TxnOffsetCommitTopicResult
}

// Key returns KeyTxnOffsetCommit.
func (*TxnOffsetCommitResponse) Key() int16 { return KeyTxnOffsetCommit }

// decode decodes the response body at version (0–5).
func (resp *TxnOffsetCommitResponse) decode(src []byte, version int16) (int, error) {
	if err := apiCheckVersion(KeyTxnOffsetCommit, version, 0, 5); err != nil {
		return 0, err
	}
	*resp = TxnOffsetCommitResponse{}
	flex := version >= 3
	str, arr, tags := apiMinStr(flex), apiMinArr(flex), apiMinTags(flex)
	r := NewReader(src)
	resp.ThrottleMillis = r.Int32()
	if n := apiReadArrayLen(r, str+arr+tags, flex); n > 0 {
		resp.Topics = make([]TxnOffsetCommitTopicResult, n)
		for i := range resp.Topics {
			t := &resp.Topics[i]
			t.Name = apiReadString(r, flex)
			if m := apiReadArrayLen(r, 4+2+tags, flex); m > 0 {
				t.Partitions = make([]TxnOffsetCommitPartitionResult, m)
				for j := range t.Partitions {
					p := &t.Partitions[j]
					p.Partition = r.Int32()
					p.ErrorCode = r.Int16()
					if flex {
						r.SkipTags()
					}
				}
			}
			if flex {
				r.SkipTags()
			}
		}
	}
	if flex {
		r.SkipTags()
	}
	return r.finish()
}

package wire

// AddPartitionsToTxnTopic names partitions of one topic.
type AddPartitionsToTxnTopic struct {
	Name       string
	Partitions []int32
}

// AddPartitionsToTxnRequest adds partitions to the producer's open transaction before it first
// produces to them (key 24). kastor speaks the client form, v0–v3: from v4 (KIP-890) the API is
// the brokers' batched verification form, which Kafka reserves for inter-broker use; a client on
// transactions v2 adds partitions implicitly through Produce instead.
type AddPartitionsToTxnRequest struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	Topics          []AddPartitionsToTxnTopic
}

// Key returns KeyAddPartitionsToTxn.
func (*AddPartitionsToTxnRequest) Key() int16 { return KeyAddPartitionsToTxn }

// MinVersion is the lowest AddPartitionsToTxn version kastor speaks.
func (*AddPartitionsToTxnRequest) MinVersion() int16 { return 0 }

// MaxVersion is the highest AddPartitionsToTxn version kastor speaks: v3, the last client version.
func (*AddPartitionsToTxnRequest) MaxVersion() int16 { return 3 }

// IsFlexible reports whether version is flexible (v3+).
func (*AddPartitionsToTxnRequest) IsFlexible(version int16) bool { return version >= 3 }

// ResponseKind returns a new *AddPartitionsToTxnResponse.
func (*AddPartitionsToTxnRequest) ResponseKind() Response { return new(AddPartitionsToTxnResponse) }

// AppendTo appends the request body encoded at version (0–3).
func (req *AddPartitionsToTxnRequest) AppendTo(dst []byte, version int16) []byte {
	flex := version >= 3
	dst = apiAppendString(dst, req.TransactionalID, flex)
	dst = AppendInt64(dst, req.ProducerID)
	dst = AppendInt16(dst, req.ProducerEpoch)
	dst = apiAppendArrayLen(dst, len(req.Topics), flex)
	for i := range req.Topics {
		t := &req.Topics[i]
		dst = apiAppendString(dst, t.Name, flex)
		dst = apiAppendArrayLen(dst, len(t.Partitions), flex)
		for _, p := range t.Partitions {
			dst = AppendInt32(dst, p)
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

// AddPartitionsToTxnPartitionResult is the outcome for one partition.
type AddPartitionsToTxnPartitionResult struct {
	Partition int32
	ErrorCode int16
}

// AddPartitionsToTxnTopicResult is the outcome for one topic's partitions.
type AddPartitionsToTxnTopicResult struct {
	Name       string
	Partitions []AddPartitionsToTxnPartitionResult
}

// AddPartitionsToTxnResponse is the coordinator's answer, per partition.
type AddPartitionsToTxnResponse struct {
	ThrottleMillis int32
	Topics         []AddPartitionsToTxnTopicResult
}

// Key returns KeyAddPartitionsToTxn.
func (*AddPartitionsToTxnResponse) Key() int16 { return KeyAddPartitionsToTxn }

// decode decodes the response body at version (0–3).
func (resp *AddPartitionsToTxnResponse) decode(src []byte, version int16) (int, error) {
	if err := apiCheckVersion(KeyAddPartitionsToTxn, version, 0, 3); err != nil {
		return 0, err
	}
	*resp = AddPartitionsToTxnResponse{}
	flex := version >= 3
	str, arr, tags := apiMinStr(flex), apiMinArr(flex), apiMinTags(flex)
	r := NewReader(src)
	resp.ThrottleMillis = r.Int32()
	if n := apiReadArrayLen(r, str+arr+tags, flex); n > 0 {
		resp.Topics = make([]AddPartitionsToTxnTopicResult, n)
		for i := range resp.Topics {
			t := &resp.Topics[i]
			t.Name = apiReadString(r, flex)
			if m := apiReadArrayLen(r, 4+2+tags, flex); m > 0 {
				t.Partitions = make([]AddPartitionsToTxnPartitionResult, m)
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

package wire

// ProducePartition is one partition's records in a produce request.
type ProducePartition struct {
	Partition int32
	// Records is one or more encoded record batches, written as-is (nil is a null value).
	Records []byte
}

// ProduceTopic is one topic of a produce request: addressed by Name before v13, by TopicID from v13.
type ProduceTopic struct {
	Name       string   // v3–v12
	TopicID    [16]byte // v13+
	Partitions []ProducePartition
}

// ProduceRequest writes record batches to partition leaders (key 0, v3–v13; v3 is the first
// version carrying RecordBatch v2).
type ProduceRequest struct {
	TransactionalID *string
	// Acks is -1 (all in-sync replicas), 0 (none: the broker sends no response) or 1 (leader).
	Acks          int16
	TimeoutMillis int32
	Topics        []ProduceTopic
}

// Key returns KeyProduce.
func (*ProduceRequest) Key() int16 { return KeyProduce }

// MinVersion is the lowest Produce version kastor speaks.
func (*ProduceRequest) MinVersion() int16 { return 3 }

// MaxVersion is the highest Produce version kastor speaks.
func (*ProduceRequest) MaxVersion() int16 { return 13 }

// IsFlexible reports whether version is flexible (v9+).
func (*ProduceRequest) IsFlexible(version int16) bool { return version >= 9 }

// ResponseKind returns a new *ProduceResponse.
func (*ProduceRequest) ResponseKind() Response { return new(ProduceResponse) }

// ExpectsResponse reports whether the broker answers this request: with acks=0 it sends nothing.
func (req *ProduceRequest) ExpectsResponse() bool { return req.Acks != 0 }

// AppendTo appends the request body encoded at version. It does not allocate beyond growing dst.
func (req *ProduceRequest) AppendTo(dst []byte, version int16) []byte {
	dst, _ = req.appendTo(dst, version, nil, false)
	return dst
}

// appendTo appends the body; with share, record batches of MinSharedRecords bytes or more are left
// out after their length, and appended to cuts instead.
func (req *ProduceRequest) appendTo(dst []byte, version int16, cuts []recordsCut, share bool) ([]byte, []recordsCut) {
	flex := version >= 9
	dst = apiAppendNullableString(dst, req.TransactionalID, flex)
	dst = AppendInt16(dst, req.Acks)
	dst = AppendInt32(dst, req.TimeoutMillis)
	dst = apiAppendArrayLen(dst, len(req.Topics), flex)
	for i := range req.Topics {
		t := &req.Topics[i]
		if version >= 13 {
			dst = AppendUUID(dst, t.TopicID)
		} else {
			dst = apiAppendString(dst, t.Name, flex)
		}
		dst = apiAppendArrayLen(dst, len(t.Partitions), flex)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			dst = AppendInt32(dst, p.Partition)
			if share && len(p.Records) >= MinSharedRecords {
				if flex {
					dst = AppendUvarint(dst, uint32(len(p.Records))+1)
				} else {
					dst = AppendInt32(dst, int32(len(p.Records)))
				}
				cuts = append(cuts, recordsCut{at: len(dst), records: p.Records})
			} else {
				dst = apiAppendNullableBytes(dst, p.Records, flex)
			}
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
	return dst, cuts
}

// ProduceRecordError points at one record that made its batch fail (v8+, KIP-467).
type ProduceRecordError struct {
	BatchIndex int32
	Message    *string
}

// ProduceLeader is the partition's current leader as the broker knows it (v10+, KIP-951); both
// fields are -1 when absent.
type ProduceLeader struct {
	LeaderID    int32
	LeaderEpoch int32
}

// ProduceResponsePartition is the outcome for one partition.
type ProduceResponsePartition struct {
	Partition      int32
	ErrorCode      int16
	BaseOffset     int64
	LogAppendTime  int64                // -1 unless the topic uses LogAppendTime
	LogStartOffset int64                // v5+; -1 before
	RecordErrors   []ProduceRecordError // v8+
	ErrorMessage   *string              // v8+
	CurrentLeader  ProduceLeader        // v10+ tagged field 0; -1/-1 when absent
}

// ProduceResponseTopic is the outcome for one topic: named before v13, by id from v13.
type ProduceResponseTopic struct {
	Name       string   // v3–v12
	TopicID    [16]byte // v13+
	Partitions []ProduceResponsePartition
}

// ProduceNodeEndpoint is a broker the response refers to in CurrentLeader (v10+, KIP-951).
type ProduceNodeEndpoint struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   *string
}

// ProduceResponse is the broker's answer to a ProduceRequest with acks != 0.
type ProduceResponse struct {
	Topics         []ProduceResponseTopic
	ThrottleMillis int32
	NodeEndpoints  []ProduceNodeEndpoint // v10+ tagged field 0
}

// Key returns KeyProduce.
func (*ProduceResponse) Key() int16 { return KeyProduce }

// decode decodes the response body at version (3–13).
func (resp *ProduceResponse) decode(src []byte, version int16) (int, error) {
	if err := apiCheckVersion(KeyProduce, version, 3, 13); err != nil {
		return 0, err
	}
	// Decoding into a response decoded before reuses its slices and its topic names where they are
	// the same (a sink decodes each answer of a request into the request's own response).
	old := resp.Topics
	*resp = ProduceResponse{}
	flex := version >= 9
	str, arr, tags := apiMinStr(flex), apiMinArr(flex), apiMinTags(flex)
	r := NewReader(src)

	topicMin := str + arr + tags
	if version >= 13 {
		topicMin = 16 + arr + tags
	}
	partMin := 4 + 2 + 8 + 8 + tags // partition, error, base offset, log append time (v2+), tags
	if version >= 5 {
		partMin += 8
	}
	if version >= 8 {
		partMin += arr + str
	}
	if n := apiReadArrayLen(r, topicMin, flex); n > 0 {
		if n <= cap(old) {
			resp.Topics = old[:n]
		} else {
			resp.Topics = make([]ProduceResponseTopic, n)
		}
		for i := range resp.Topics {
			t := &resp.Topics[i]
			name, parts := t.Name, t.Partitions
			*t = ProduceResponseTopic{}
			if version >= 13 {
				t.TopicID = r.UUID()
			} else {
				t.Name = apiReadStringLike(r, flex, name)
			}
			if m := apiReadArrayLen(r, partMin, flex); m > 0 {
				if m <= cap(parts) {
					t.Partitions = parts[:m]
					clear(t.Partitions)
				} else {
					t.Partitions = make([]ProduceResponsePartition, m)
				}
				for j := range t.Partitions {
					readProducePartition(r, &t.Partitions[j], version, flex)
				}
			}
			if flex {
				r.SkipTags()
			}
		}
	}
	resp.ThrottleMillis = r.Int32()
	if flex {
		r.Tags(func(key uint32, data []byte) error {
			if key != 0 || version < 10 {
				return nil // unknown tag: skipped
			}
			return apiSubReader(data, func(r *Reader) {
				resp.NodeEndpoints = nil
				if n := apiReadArrayLen(r, 4+1+4+1+1, true); n > 0 {
					resp.NodeEndpoints = make([]ProduceNodeEndpoint, n)
					for i := range resp.NodeEndpoints {
						e := &resp.NodeEndpoints[i]
						e.NodeID = r.Int32()
						e.Host = apiReadString(r, true)
						e.Port = r.Int32()
						e.Rack = apiReadNullableString(r, true)
						r.SkipTags()
					}
				}
			})
		})
	}
	return r.finish()
}

func readProducePartition(r *Reader, p *ProduceResponsePartition, version int16, flex bool) {
	p.Partition = r.Int32()
	p.ErrorCode = r.Int16()
	p.BaseOffset = r.Int64()
	p.LogAppendTime = r.Int64()
	p.LogStartOffset = -1
	if version >= 5 {
		p.LogStartOffset = r.Int64()
	}
	if version >= 8 {
		if n := apiReadArrayLen(r, 4+apiMinStr(flex)+apiMinTags(flex), flex); n > 0 {
			p.RecordErrors = make([]ProduceRecordError, n)
			for i := range p.RecordErrors {
				e := &p.RecordErrors[i]
				e.BatchIndex = r.Int32()
				e.Message = apiReadNullableString(r, flex)
				if flex {
					r.SkipTags()
				}
			}
		}
		p.ErrorMessage = apiReadNullableString(r, flex)
	}
	p.CurrentLeader = ProduceLeader{LeaderID: -1, LeaderEpoch: -1}
	if flex {
		r.Tags(func(key uint32, data []byte) error {
			if key != 0 || version < 10 {
				return nil // unknown tag: skipped
			}
			return apiSubReader(data, func(r *Reader) {
				p.CurrentLeader.LeaderID = r.Int32()
				p.CurrentLeader.LeaderEpoch = r.Int32()
				r.SkipTags()
			})
		})
	}
}

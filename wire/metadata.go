package wire

import "math"

// MetadataRequestTopic names one topic to describe: by Name, or (v10+) by TopicID with a nil Name.
type MetadataRequestTopic struct {
	TopicID [16]byte // v10+
	// Name is the topic name. It is nullable from v10 (when TopicID is used); before v10 a nil
	// Name is written as "".
	Name *string
}

// MetadataRequest asks for brokers, topics and partition leaders (key 3, v1–v13).
type MetadataRequest struct {
	// Topics to describe: nil asks for all topics (a null array), empty non-nil for none.
	Topics []MetadataRequestTopic
	// AllowAutoTopicCreation (v4+) lets the broker create missing topics.
	AllowAutoTopicCreation bool
	// IncludeClusterAuthorizedOperations exists only in v8–v10 (Kafka moved it to
	// DescribeCluster); it is not written at other versions.
	IncludeClusterAuthorizedOperations bool
	// IncludeTopicAuthorizedOperations (v8+) asks for each topic's authorized operations.
	IncludeTopicAuthorizedOperations bool
}

// Key returns KeyMetadata.
func (*MetadataRequest) Key() int16 { return KeyMetadata }

// MinVersion is the lowest Metadata version kastor speaks.
func (*MetadataRequest) MinVersion() int16 { return 1 }

// MaxVersion is the highest Metadata version kastor speaks.
func (*MetadataRequest) MaxVersion() int16 { return 13 }

// IsFlexible reports whether version is flexible (v9+).
func (*MetadataRequest) IsFlexible(version int16) bool { return version >= 9 }

// ResponseKind returns a new *MetadataResponse.
func (*MetadataRequest) ResponseKind() Response { return new(MetadataResponse) }

// AppendTo appends the request body encoded at version.
func (req *MetadataRequest) AppendTo(dst []byte, version int16) []byte {
	flex := version >= 9
	if req.Topics == nil {
		dst = apiAppendArrayLen(dst, -1, flex)
	} else {
		dst = apiAppendArrayLen(dst, len(req.Topics), flex)
	}
	for i := range req.Topics {
		t := &req.Topics[i]
		if version >= 10 {
			dst = AppendUUID(dst, t.TopicID)
			dst = apiAppendNullableString(dst, t.Name, flex)
		} else {
			var name string
			if t.Name != nil {
				name = *t.Name
			}
			dst = apiAppendString(dst, name, flex)
		}
		if flex {
			dst = AppendEmptyTags(dst)
		}
	}
	if version >= 4 {
		dst = AppendBool(dst, req.AllowAutoTopicCreation)
	}
	if version >= 8 && version <= 10 {
		dst = AppendBool(dst, req.IncludeClusterAuthorizedOperations)
	}
	if version >= 8 {
		dst = AppendBool(dst, req.IncludeTopicAuthorizedOperations)
	}
	if flex {
		dst = AppendEmptyTags(dst)
	}
	return dst
}

// MetadataBroker is one live broker.
type MetadataBroker struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   *string
}

// MetadataPartition is one partition of a topic.
type MetadataPartition struct {
	ErrorCode       int16
	Partition       int32
	Leader          int32
	LeaderEpoch     int32 // v7+; -1 before
	Replicas        []int32
	ISR             []int32
	OfflineReplicas []int32 // v5+
}

// MetadataTopic is one topic's metadata.
type MetadataTopic struct {
	ErrorCode int16
	// Name is never nil before v12; from v12 a topic looked up by id may have a null name.
	Name       *string
	TopicID    [16]byte // v10+
	IsInternal bool
	Partitions []MetadataPartition
	// AuthorizedOperations (v8+) is a bitfield of ACL operations; -2147483648 when absent or not
	// requested.
	AuthorizedOperations int32
}

// MetadataResponse is the broker's answer to MetadataRequest.
type MetadataResponse struct {
	ThrottleMillis int32 // v3+
	Brokers        []MetadataBroker
	ClusterID      *string // v2+
	ControllerID   int32   // -1 when unknown
	Topics         []MetadataTopic
	// ClusterAuthorizedOperations exists only in v8–v10; -2147483648 when absent.
	ClusterAuthorizedOperations int32
	ErrorCode                   int16 // v13+ (KIP-1102: REBOOTSTRAP_REQUIRED)
}

// Key returns KeyMetadata.
func (*MetadataResponse) Key() int16 { return KeyMetadata }

// decode decodes the response body at version (1–13).
func (resp *MetadataResponse) decode(src []byte, version int16) (int, error) {
	if err := apiCheckVersion(KeyMetadata, version, 1, 13); err != nil {
		return 0, err
	}
	*resp = MetadataResponse{ControllerID: -1, ClusterAuthorizedOperations: math.MinInt32}
	flex := version >= 9
	str, arr, tags := apiMinStr(flex), apiMinArr(flex), apiMinTags(flex)
	r := NewReader(src)
	if version >= 3 {
		resp.ThrottleMillis = r.Int32()
	}

	brokerMin := 4 + str + 4 + str + tags // node id, host, port, rack (v1+), tags
	if n := apiReadArrayLen(r, brokerMin, flex); n > 0 {
		resp.Brokers = make([]MetadataBroker, n)
		for i := range resp.Brokers {
			b := &resp.Brokers[i]
			b.NodeID = r.Int32()
			b.Host = apiReadString(r, flex)
			b.Port = r.Int32()
			b.Rack = apiReadNullableString(r, flex)
			if flex {
				r.SkipTags()
			}
		}
	}
	if version >= 2 {
		resp.ClusterID = apiReadNullableString(r, flex)
	}
	resp.ControllerID = r.Int32()

	topicMin := 2 + str + 1 + arr + tags // error, name, internal, partitions, tags
	if version >= 10 {
		topicMin += 16
	}
	if version >= 8 {
		topicMin += 4
	}
	partMin := 2 + 4 + 4 + arr + arr + tags // error, partition, leader, replicas, isr, tags
	if version >= 5 {
		partMin += arr
	}
	if version >= 7 {
		partMin += 4
	}
	if n := apiReadArrayLen(r, topicMin, flex); n > 0 {
		resp.Topics = make([]MetadataTopic, n)
		for i := range resp.Topics {
			t := &resp.Topics[i]
			t.AuthorizedOperations = math.MinInt32
			t.ErrorCode = r.Int16()
			if version >= 12 {
				t.Name = apiReadNullableString(r, flex)
			} else {
				name := apiReadString(r, flex)
				t.Name = &name
			}
			if version >= 10 {
				t.TopicID = r.UUID()
			}
			t.IsInternal = r.Bool()
			if m := apiReadArrayLen(r, partMin, flex); m > 0 {
				t.Partitions = make([]MetadataPartition, m)
				for j := range t.Partitions {
					p := &t.Partitions[j]
					p.ErrorCode = r.Int16()
					p.Partition = r.Int32()
					p.Leader = r.Int32()
					p.LeaderEpoch = -1
					if version >= 7 {
						p.LeaderEpoch = r.Int32()
					}
					p.Replicas = apiReadInt32s(r, flex)
					p.ISR = apiReadInt32s(r, flex)
					if version >= 5 {
						p.OfflineReplicas = apiReadInt32s(r, flex)
					}
					if flex {
						r.SkipTags()
					}
				}
			}
			if version >= 8 {
				t.AuthorizedOperations = r.Int32()
			}
			if flex {
				r.SkipTags()
			}
		}
	}
	if version >= 8 && version <= 10 {
		resp.ClusterAuthorizedOperations = r.Int32()
	}
	if version >= 13 {
		resp.ErrorCode = r.Int16()
	}
	if flex {
		r.SkipTags()
	}
	return r.finish()
}

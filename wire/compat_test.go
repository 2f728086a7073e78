package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckRequestVersionZstd(t *testing.T) {
	batch := func(c Codec) []byte {
		var b BatchBuilder
		b.Reset(nil)
		b.Append(1700000000000, []byte("k"), []byte("v"), nil)
		out, err := b.Seal(nil, SealOptions{Codec: c, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, PartitionLeaderEpoch: -1})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	req := func(codecs ...Codec) *ProduceRequest {
		r := &ProduceRequest{Acks: -1, Topics: []ProduceTopic{{Name: "t"}}}
		for i, c := range codecs {
			r.Topics[0].Partitions = append(r.Topics[0].Partitions, ProducePartition{Partition: int32(i), Records: batch(c)})
		}
		return r
	}
	for v := int16(3); v <= 13; v++ {
		for c := CodecNone; c <= CodecZstd; c++ {
			err := CheckRequestVersion(req(CodecNone, c), v)
			if refuse := c == CodecZstd && v < 7; refuse != (err != nil) {
				t.Fatalf("%s at Produce v%d: %v", c, v, err)
			}
			if err == nil {
				continue
			}
			var uce *UnsupportedCompressionError
			if !errors.Is(err, ErrUnsupportedCompressionType) || !errors.As(err, &uce) || uce.ProduceVersion != v ||
				!strings.Contains(err.Error(), "zstd") || !strings.Contains(err.Error(), "v7") {
				t.Fatalf("%s at Produce v%d: %v", c, v, err)
			}
		}
	}
	if err := CheckRequestVersion(&MetadataRequest{}, 1); err != nil {
		t.Fatal(err)
	}
	// A null or short Records field is not a batch to judge.
	if err := CheckRequestVersion(&ProduceRequest{Topics: []ProduceTopic{{Partitions: []ProducePartition{{Records: []byte{1, 2}}}}}}, 3); err != nil {
		t.Fatal(err)
	}
}

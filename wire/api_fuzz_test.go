package wire

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fuzz targets for every response decoder. Each takes (data, version); version is folded into
// kastor's range for the API. Decoders must never panic; when kastor accepts an input and kmsg
// also accepts it, both must agree on every field. The seed corpus (valid kmsg-encoded responses at
// every version, their truncations and hostile lengths) runs in every `go test`.

// foldVersion maps any int16 onto [lo, hi], leaving versions in the range unchanged.
func foldVersion(v, lo, hi int16) int16 {
	return lo + int16(uint16(v-lo)%uint16(hi-lo+1))
}

func addResponseSeeds(f *testing.F, decoder string) {
	rng := newTestRand(100)
	for _, s := range apiSeedBodies(rng) {
		d := apiDecoders[s.decoder]
		if d.name != decoder {
			continue
		}
		f.Add(s.body, s.version)
		for _, n := range []int{0, 1, 2, len(s.body) / 2, len(s.body) - 1} {
			if n >= 0 && n < len(s.body) {
				f.Add(s.body[:n], s.version)
			}
		}
		f.Add(append(bytes.Clone(s.body), 0), s.version)
		f.Add(append(bytes.Clone(s.body), 1, 2, 3), s.version)
	}
	f.Add([]byte{0, 0, 0x7f, 0xff, 0xff, 0xff}, int16(0))
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0, 0}, int16(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xfe, 0, 0}, int16(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, int16(13))
	// librdkafka mock cluster's refusal of ApiVersions v4.
	f.Add([]byte{0, 0x23, 1, 0, 0x12, 0, 0, 0, 2, 0, 0, 0, 0, 0}, int16(4))
}

func fuzzDecoder(f *testing.F, name string, check func(t *testing.T, data []byte, v int16, got Response)) {
	d := apiDecoders[0]
	for _, x := range apiDecoders {
		if x.name == name {
			d = x
		}
	}
	addResponseSeeds(f, name)
	f.Fuzz(func(t *testing.T, data []byte, version int16) {
		v := foldVersion(version, d.lo, d.hi)
		resp := d.new()
		trailing, err := ReadResponse(resp, data, v)
		if err != nil {
			return
		}
		if trailing < 0 || trailing > len(data) {
			t.Fatalf("%s v%d: trailing %d of %d bytes", name, v, trailing, len(data))
		}
		// Ignored trailing bytes change nothing: the body without them reads the same, exactly.
		// (ApiVersions refusals with code 35 have their own rules.)
		refusal := name == "ApiVersions" && v > 0 && len(data) >= 2 &&
			binary.BigEndian.Uint16(data) == uint16(ErrUnsupportedVersionCode.Code)
		if trailing > 0 && !refusal {
			short := d.new()
			if n, err := ReadResponse(short, data[:len(data)-trailing], v); err != nil || n != 0 {
				t.Fatalf("%s v%d: without its %d trailing bytes: trailing %d, %v", name, v, trailing, n, err)
			}
			checkEqual(t, name+" without trailing bytes", v, short, resp)
		}
		check(t, data, v, resp)
	})
}

func FuzzApiVersionsResponse(f *testing.F) {
	fuzzDecoder(f, "ApiVersions", func(t *testing.T, data []byte, v int16, got Response) {
		if v > 0 && len(data) >= 2 && binary.BigEndian.Uint16(data) == uint16(ErrUnsupportedVersionCode.Code) {
			return // may have decoded through the v0 fallback
		}
		k := kmsg.NewPtrApiVersionsResponse()
		k.Version = v
		if k.ReadFrom(data) == nil {
			checkEqual(t, "ApiVersionsResponse vs kmsg", v, *got.(*ApiVersionsResponse), wantApiVersionsResponse(k))
		}
	})
}

func FuzzMetadataResponse(f *testing.F) {
	fuzzDecoder(f, "Metadata", func(t *testing.T, data []byte, v int16, got Response) {
		k := kmsg.NewPtrMetadataResponse()
		k.Version = v
		if k.ReadFrom(data) == nil {
			checkEqual(t, "MetadataResponse vs kmsg", v, *got.(*MetadataResponse), wantMetadataResponse(k))
		}
	})
}

func FuzzProduceResponse(f *testing.F) {
	// reused is decoded into by every input, as a sink does with its requests' responses: an
	// answer decoded into what earlier ones left reads exactly as one decoded fresh.
	reused := &ProduceResponse{}
	fuzzDecoder(f, "Produce", func(t *testing.T, data []byte, v int16, got Response) {
		if _, err := ReadResponse(reused, data, v); err != nil {
			t.Fatalf("v%d: decoded fresh, but not into a reused response: %v", v, err)
		}
		checkEqual(t, "ProduceResponse decoded into a reused one", v, *reused, *got.(*ProduceResponse))
		k := kmsg.NewPtrProduceResponse()
		k.Version = v
		if k.ReadFrom(data) == nil {
			checkEqual(t, "ProduceResponse vs kmsg", v, *got.(*ProduceResponse), wantProduceResponse(k, v))
		}
	})
}

func FuzzInitProducerIDResponse(f *testing.F) {
	fuzzDecoder(f, "InitProducerID", func(t *testing.T, data []byte, v int16, got Response) {
		k := kmsg.NewPtrInitProducerIDResponse()
		k.Version = v
		if k.ReadFrom(data) == nil {
			checkEqual(t, "InitProducerIDResponse vs kmsg", v, *got.(*InitProducerIDResponse), wantInitProducerIDResponse(k))
		}
	})
}

func FuzzSaslHandshakeResponse(f *testing.F) {
	fuzzDecoder(f, "SaslHandshake", func(t *testing.T, data []byte, v int16, got Response) {
		k := kmsg.NewPtrSASLHandshakeResponse()
		k.Version = v
		if k.ReadFrom(data) == nil {
			checkEqual(t, "SaslHandshakeResponse vs kmsg", v, *got.(*SaslHandshakeResponse), wantSaslHandshakeResponse(k))
		}
	})
}

func FuzzSaslAuthenticateResponse(f *testing.F) {
	fuzzDecoder(f, "SaslAuthenticate", func(t *testing.T, data []byte, v int16, got Response) {
		k := kmsg.NewPtrSASLAuthenticateResponse()
		k.Version = v
		if k.ReadFrom(data) == nil {
			checkEqual(t, "SaslAuthenticateResponse vs kmsg", v, *got.(*SaslAuthenticateResponse), wantSaslAuthenticateResponse(k))
		}
	})
}

func FuzzFindCoordinatorResponse(f *testing.F) {
	fuzzDecoder(f, "FindCoordinator", func(t *testing.T, data []byte, v int16, got Response) {
		k := kmsg.NewPtrFindCoordinatorResponse()
		k.Version = v
		if k.ReadFrom(data) == nil {
			checkEqual(t, "FindCoordinatorResponse vs kmsg", v, *got.(*FindCoordinatorResponse), wantFindCoordinatorResponse(k, v))
		}
	})
}

func FuzzAddPartitionsToTxnResponse(f *testing.F) {
	fuzzDecoder(f, "AddPartitionsToTxn", func(t *testing.T, data []byte, v int16, got Response) {
		k := kmsg.NewPtrAddPartitionsToTxnResponse()
		k.Version = v
		if k.ReadFrom(data) == nil {
			checkEqual(t, "AddPartitionsToTxnResponse vs kmsg", v, *got.(*AddPartitionsToTxnResponse), wantAddPartitionsToTxnResponse(k))
		}
	})
}

func FuzzAddOffsetsToTxnResponse(f *testing.F) {
	fuzzDecoder(f, "AddOffsetsToTxn", func(t *testing.T, data []byte, v int16, got Response) {
		k := kmsg.NewPtrAddOffsetsToTxnResponse()
		k.Version = v
		if k.ReadFrom(data) == nil {
			checkEqual(t, "AddOffsetsToTxnResponse vs kmsg", v, *got.(*AddOffsetsToTxnResponse), wantAddOffsetsToTxnResponse(k))
		}
	})
}

func FuzzEndTxnResponse(f *testing.F) {
	fuzzDecoder(f, "EndTxn", func(t *testing.T, data []byte, v int16, got Response) {
		k := kmsg.NewPtrEndTxnResponse()
		k.Version = v
		if k.ReadFrom(data) == nil {
			checkEqual(t, "EndTxnResponse vs kmsg", v, *got.(*EndTxnResponse), wantEndTxnResponse(k))
		}
	})
}

func FuzzTxnOffsetCommitResponse(f *testing.F) {
	fuzzDecoder(f, "TxnOffsetCommit", func(t *testing.T, data []byte, v int16, got Response) {
		k := kmsg.NewPtrTxnOffsetCommitResponse()
		k.Version = v
		if k.ReadFrom(data) == nil {
			checkEqual(t, "TxnOffsetCommitResponse vs kmsg", v, *got.(*TxnOffsetCommitResponse), wantTxnOffsetCommitResponse(k))
		}
	})
}

// FuzzReadResponseHeader reads a header as v1 (tagged) when version >= 9, else v0.
func FuzzReadResponseHeader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 'b'}, int16(0))
	f.Add([]byte{0, 0, 0, 1, 0, 'b'}, int16(9))
	f.Add(append(AppendTag([]byte{0, 0, 0, 1, 1}, 3, []byte{1, 2}), 'b'), int16(9))
	f.Add([]byte{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, int16(9))
	f.Add([]byte{0, 0, 1}, int16(0))
	f.Fuzz(func(t *testing.T, data []byte, version int16) {
		flex := ResponseHeaderFlexible(KeyProduce, version)
		corr, body, err := ReadResponseHeader(data, flex)
		if err != nil {
			return
		}
		if len(data) < 4 || corr != int32(binary.BigEndian.Uint32(data)) {
			t.Fatalf("correlation id %d from %x", corr, data)
		}
		if !bytes.HasSuffix(data, body) || (!flex && len(body) != len(data)-4) || (flex && len(body) > len(data)-5) {
			t.Fatalf("body %x not the tail of %x (flex %v)", body, data, flex)
		}
		if flex {
			r := NewReader(data[4 : len(data)-len(body)])
			r.SkipTags()
			if err := r.Complete(); err != nil {
				t.Fatalf("header tags %x: %v", data[4:len(data)-len(body)], err)
			}
		}
	})
}

func TestFuzzFoldVersion(t *testing.T) {
	for v := int16(1); v <= 13; v++ {
		if foldVersion(v, 1, 13) != v {
			t.Fatalf("fold(%d)", v)
		}
	}
	for _, v := range []int16{-32768, -1, 0, 14, 32767} {
		if f := foldVersion(v, 1, 13); f < 1 || f > 13 {
			t.Fatalf("fold(%d) = %d", v, f)
		}
	}
}

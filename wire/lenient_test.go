package wire

import (
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Bytes after the last field of the negotiated version are ignored and counted, for every response
// type at every version: the fields read are those without the tail, and kmsg (which ignores
// trailing bytes too) reads the same.
func TestApiTrailingBytesIgnored(t *testing.T) {
	rng := newTestRand(21)
	tails := [][]byte{{0}, {0xff}, {1, 2, 3, 4, 5, 6, 7}, make([]byte, 300)}
	for _, seed := range apiSeedBodies(rng) {
		d := apiDecoders[seed.decoder]
		if d.name == "ApiVersions" && binary.BigEndian.Uint16(seed.body) == uint16(ErrUnsupportedVersionCode.Code) {
			continue // decoded through the UNSUPPORTED_VERSION rules, tested below
		}
		want := d.new()
		if n, err := ReadResponse(want, seed.body, seed.version); err != nil || n != 0 {
			t.Fatalf("%s v%d: clean body: trailing %d, %v", d.name, seed.version, n, err)
		}
		for _, tail := range tails {
			body := cat(seed.body, tail)
			got := d.new()
			n, err := ReadResponse(got, body, seed.version)
			if err != nil {
				t.Fatalf("%s v%d + %d bytes: %v", d.name, seed.version, len(tail), err)
			}
			if n != len(tail) {
				t.Fatalf("%s v%d: trailing %d, want %d", d.name, seed.version, n, len(tail))
			}
			checkEqual(t, d.name+" with trailing bytes", seed.version, got, want)
			if err := d.new().ReadFrom(body, seed.version); err != nil {
				t.Fatalf("%s v%d: ReadFrom with trailing bytes: %v", d.name, seed.version, err)
			}
		}
	}
}

// librdkafka's mock cluster answers a flexible Metadata request (v9+) with one byte after the
// response's tagged fields.
func TestMetadataResponseOneExtraByte(t *testing.T) {
	rng := newTestRand(22)
	for _, v := range versions(9, 13) {
		k := genKmsgMetadataResponse(rng, v)
		body := append(k.AppendTo(nil), 0)
		var got MetadataResponse
		n, err := ReadResponse(&got, body, v)
		if err != nil || n != 1 {
			t.Fatalf("v%d: trailing %d, %v", v, n, err)
		}
		checkEqual(t, "MetadataResponse", v, got, wantMetadataResponse(k))
	}
}

// The exact ApiVersions answer librdkafka's mock cluster gives to an ApiVersions v4 request it does
// not speak: error 35 and a tail no version reads as meant. It must decode to error 35 with no
// ApiVersions range, so the handshake retries at v0.
func TestApiVersionsLibrdkafkaMockRefusal(t *testing.T) {
	// The issue calls it 13 bytes; the hex it quotes is 14, and that is what is tested.
	body, err := hex.DecodeString("0023" + "01" + "0012" + "0000" + "0002" + "00" + "00000000")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions(1, 4) {
		var got ApiVersionsResponse
		if _, err := ReadResponse(&got, body, v); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if got.ErrorCode != ErrUnsupportedVersionCode.Code {
			t.Fatalf("v%d: error code %d", v, got.ErrorCode)
		}
		for _, k := range got.ApiKeys {
			if k.ApiKey == KeyApiVersions && k.MaxVersion >= v {
				t.Fatalf("v%d: decoded an ApiVersions range %+v that would not retry lower", v, k)
			}
		}
	}
}

// Any body that starts with error code 35 decodes (at versions above 0), whatever follows, so the
// KIP-511 fallback always gets its retry; the v0 form Kafka sends keeps its ApiKeys.
func TestApiVersionsUnsupportedAnyBody(t *testing.T) {
	rng := newTestRand(23)
	for range 2000 {
		body := cat([]byte{0, 35}, rBytes(rng, 40))
		for _, v := range versions(1, 4) {
			var got ApiVersionsResponse
			if _, err := ReadResponse(&got, body, v); err != nil || got.ErrorCode != 35 {
				t.Fatalf("v%d %x: code %d, %v", v, body, got.ErrorCode, err)
			}
		}
	}
	k := kmsg.NewPtrApiVersionsResponse()
	k.Version = 0
	k.ErrorCode = 35
	k.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: 18, MinVersion: 0, MaxVersion: 3}}
	for _, v := range versions(1, 4) {
		var got ApiVersionsResponse
		if n, err := ReadResponse(&got, k.AppendTo(nil), v); err != nil || n != 0 || len(got.ApiKeys) != 1 || got.ApiKeys[0].MaxVersion != 3 {
			t.Fatalf("v%d: %+v trailing %d %v", v, got, n, err)
		}
	}
	// At v0 there is nothing lower to retry: a malformed body is an error.
	var got ApiVersionsResponse
	if _, err := ReadResponse(&got, []byte{0, 35, 0, 0, 0, 9}, 0); err == nil {
		t.Fatal("malformed v0 body decoded")
	}
}

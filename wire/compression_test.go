package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
)

var btCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

func btRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x626174636821)) }

// btText returns n bytes of log-like text: compressible, but not trivially.
func btText(rng *rand.Rand, n int) []byte {
	words := []string{"user", "click", "view", "order", "id", "ts", "ok", "error", "session", "page", "GET", "POST"}
	b := make([]byte, 0, n+32)
	for len(b) < n {
		b = append(b, `{"`...)
		b = append(b, words[rng.IntN(len(words))]...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, rng.Int64N(1e6), 10)
		b = append(b, ',', ' ')
	}
	return b[:n]
}

// btRandom returns n incompressible bytes.
func btRandom(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// btKgoDecompress decompresses with franz-go's decompressor: an implementation independent of
// ours (its own pooling, bounds, snappy via s2, xerial parsing).
func btKgoDecompress(t testing.TB, src []byte, c Codec) []byte {
	t.Helper()
	if c == CodecNone {
		return src
	}
	out, err := kgo.DefaultDecompressor().Decompress(src, kgo.CompressionCodecType(c))
	if err != nil {
		t.Fatalf("kgo decompress %s: %v", c, err)
	}
	return out
}

func TestCodecString(t *testing.T) {
	for _, c := range btCodecs {
		got, err := ParseCodec(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCodec(%q) = %v, %v", c.String(), got, err)
		}
	}
	if got, err := ParseCodec("ZSTD"); err != nil || got != CodecZstd {
		t.Errorf("ParseCodec(ZSTD) = %v, %v", got, err)
	}
	for _, s := range []string{"", "brotli", "lz4 ", "producer"} {
		if _, err := ParseCodec(s); !errors.Is(err, ErrUnsupportedCodec) {
			t.Errorf("ParseCodec(%q) error = %v", s, err)
		}
	}
	if s := Codec(7).String(); s != "codec(7)" {
		t.Errorf("Codec(7).String() = %q", s)
	}
}

func TestCompressRoundTrip(t *testing.T) {
	rng := btRand(1)
	inputs := map[string][]byte{
		"empty":      {},
		"one":        {'x'},
		"text-1k":    btText(rng, 1000),
		"text-200k":  btText(rng, 200<<10),
		"random-70k": btRandom(rng, 70<<10),
		"zeros-1m":   make([]byte, 1<<20),
	}
	levels := map[Codec][]int{
		CodecNone:   {0},
		CodecGzip:   {-1, 0, 1, 5, 9},
		CodecSnappy: {0},
		CodecLZ4:    {-1, 0, 1, 5, 9, 17},
		CodecZstd:   {-5, -1, 0, 1, 3, 6, 10, 22},
	}
	prefix := []byte("prefix")
	for _, c := range btCodecs {
		for _, level := range levels[c] {
			for name, in := range inputs {
				t.Run(fmt.Sprintf("%s/%d/%s", c, level, name), func(t *testing.T) {
					comp, err := Compress(append([]byte(nil), prefix...), in, c, level)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasPrefix(comp, prefix) {
						t.Fatal("Compress clobbered dst")
					}
					comp = comp[len(prefix):]
					if c != CodecNone && len(in) == 0 && len(comp) == 0 {
						t.Fatal("empty input compressed to nothing: not a valid stream")
					}
					out, err := Decompress(append([]byte(nil), prefix...), comp, c, len(in))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasPrefix(out, prefix) || !bytes.Equal(out[len(prefix):], in) {
						t.Fatalf("round trip mismatch: %d bytes in, %d out", len(in), len(out)-len(prefix))
					}
					if got := btKgoDecompress(t, comp, c); !bytes.Equal(got, in) {
						t.Fatalf("kgo decompress mismatch: %d bytes in, %d out", len(in), len(got))
					}
					if len(in) > 0 {
						_, err := Decompress(nil, comp, c, len(in)-1)
						if !errors.Is(err, ErrDecompressedTooLarge) {
							t.Fatalf("limit len-1: err = %v", err)
						}
					}
				})
			}
		}
	}
}

// TestDecompressForeign decodes streams written by the codec libraries directly, with framing
// choices other than ours (lz4 4 MiB blocks and content checksum, zstd stream frames without a
// content size, gzip with several members).
func TestDecompressForeign(t *testing.T) {
	rng := btRand(2)
	in := btText(rng, 300<<10)

	var gz bytes.Buffer
	for _, part := range [][]byte{in[:1000], in[1000:]} {
		w := gzip.NewWriter(&gz)
		w.Write(part)
		w.Close()
	}
	var lz bytes.Buffer
	lw := lz4.NewWriter(&lz) // defaults: 4 MiB blocks, content checksum
	lw.Write(in)
	lw.Close()
	var zs bytes.Buffer
	zw, err := zstd.NewWriter(&zs, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(in)
	zw.Close()
	var h zstd.Header
	if err := h.Decode(zs.Bytes()); err != nil || h.HasFCS {
		t.Fatalf("expected a zstd frame without content size: %+v %v", h, err)
	}
	kgoComp := func(c kgo.CompressionCodec) []byte {
		comp, err := kgo.DefaultCompressor(c)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := comp.Compress(new(bytes.Buffer), in)
		return append([]byte(nil), out...)
	}

	cases := []struct {
		name string
		c    Codec
		src  []byte
	}{
		{"gzip-multimember", CodecGzip, gz.Bytes()},
		{"lz4-4mb-checksum", CodecLZ4, lz.Bytes()},
		{"zstd-stream", CodecZstd, zs.Bytes()},
		{"zstd-two-frames", CodecZstd, append(zstdEncodeAll(in[:5000]), zstdEncodeAll(in[5000:])...)},
		{"kgo-gzip", CodecGzip, kgoComp(kgo.GzipCompression())},
		{"kgo-snappy", CodecSnappy, kgoComp(kgo.SnappyCompression())},
		{"kgo-lz4", CodecLZ4, kgoComp(kgo.Lz4Compression())},
		{"kgo-zstd", CodecZstd, kgoComp(kgo.ZstdCompression())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Decompress(nil, tc.src, tc.c, len(in))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, in) {
				t.Fatalf("mismatch: %d bytes, want %d", len(out), len(in))
			}
			if _, err := Decompress(nil, tc.src, tc.c, len(in)-1); !errors.Is(err, ErrDecompressedTooLarge) {
				t.Fatalf("limit len-1: err = %v", err)
			}
		})
	}
}

func zstdEncodeAll(src []byte) []byte {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err)
	}
	defer enc.Close()
	return enc.EncodeAll(src, nil)
}

func TestCompressBadArgs(t *testing.T) {
	for _, tc := range []struct {
		c     Codec
		level int
	}{{CodecGzip, 10}, {CodecGzip, -2}, {CodecLZ4, -2}, {Codec(5), 0}, {Codec(-1), 0}} {
		if _, err := Compress(nil, []byte("abc"), tc.c, tc.level); !errors.Is(err, ErrUnsupportedCodec) {
			t.Errorf("Compress(%v, level %d) error = %v", tc.c, tc.level, err)
		}
	}
	if _, err := Decompress(nil, []byte("abc"), Codec(5), 10); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("Decompress(codec 5) error = %v", err)
	}
	if _, err := Decompress(nil, []byte("abc"), CodecNone, 2); !errors.Is(err, ErrDecompressedTooLarge) {
		t.Errorf("Decompress(none, limit 2) error = %v", err)
	}
}

// btXerial frames src the way snappy-java's SnappyOutputStream does: the 16-byte header, then
// blocks of [big-endian int32 length][raw snappy block] of at most chunk input bytes each.
func btXerial(src []byte, chunk int) []byte {
	out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
	for len(src) > 0 {
		n := min(chunk, len(src))
		block := snappy.Encode(nil, src[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		src = src[n:]
	}
	return out
}

func TestSnappyXerial(t *testing.T) {
	rng := btRand(3)
	in := btText(rng, 100<<10)
	framed := btXerial(in, 32<<10) // 4 blocks, as snappy-java writes them
	out, err := Decompress([]byte("p"), framed, CodecSnappy, len(in))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, append([]byte("p"), in...)) {
		t.Fatal("xerial mismatch")
	}
	// The oracle agrees on our framing.
	if got := btKgoDecompress(t, framed, CodecSnappy); !bytes.Equal(got, in) {
		t.Fatal("kgo disagrees on the test's xerial framing")
	}
	// The limit applies to the sum of the blocks.
	if _, err := Decompress(nil, framed, CodecSnappy, len(in)-1); !errors.Is(err, ErrDecompressedTooLarge) {
		t.Fatalf("limit: err = %v", err)
	}
	// A header alone is an empty stream.
	if out, err := Decompress(nil, framed[:16], CodecSnappy, 10); err != nil || len(out) != 0 {
		t.Fatalf("header only: %q, %v", out, err)
	}
	bad := map[string][]byte{
		"short header":       framed[:12],
		"short block length": framed[:18],
		"block past end":     framed[:30],
		"huge block length":  append(append([]byte(nil), framed[:16]...), 0x80, 0, 0, 0, 1, 2, 3),
		"corrupt block":      append(append([]byte(nil), framed[:16]...), 0, 0, 0, 3, 0xff, 0xff, 0xff),
	}
	for name, src := range bad {
		if _, err := Decompress(nil, src, CodecSnappy, 1<<20); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// btAllocated runs f and returns the bytes it allocated (TotalAlloc delta).
func btAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// btBombs returns, per codec, input that decompresses to about 1 GiB of zeros: concatenated
// members/frames/blocks, cheap to build.
func btBombs(t testing.TB) map[string]struct {
	c   Codec
	src []byte
} {
	zeros := make([]byte, 1<<20)
	rep := func(unit []byte, n int) []byte { return bytes.Repeat(unit, n) }
	gz, _ := Compress(nil, zeros, CodecGzip, 9)
	lz, _ := Compress(nil, zeros, CodecLZ4, 9)
	zs, _ := Compress(nil, zeros, CodecZstd, 3)
	// One zstd frame without a content size and a 64 MiB window's worth of data.
	var zstream bytes.Buffer
	zw, err := zstd.NewWriter(&zstream, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	for range 64 {
		zw.Write(zeros)
	}
	zw.Close()
	// A raw snappy block that claims 1 GiB and holds nothing.
	snapLie := binary.AppendUvarint(nil, 1<<30)
	snapLie = append(snapLie, 0, 0, 0)
	// A xerial stream whose one block claims 64 MiB.
	claim := binary.AppendUvarint(nil, 1<<26)
	xerialLie := binary.BigEndian.AppendUint32(btXerial(nil, 1), uint32(len(claim)))
	xerialLie = append(xerialLie, claim...)
	return map[string]struct {
		c   Codec
		src []byte
	}{
		"gzip-1g":          {CodecGzip, rep(gz, 1024)},
		"lz4-1g":           {CodecLZ4, rep(lz, 1024)},
		"zstd-1g":          {CodecZstd, rep(zs, 1024)},
		"zstd-stream-64m":  {CodecZstd, zstream.Bytes()},
		"snappy-claim-1g":  {CodecSnappy, snapLie},
		"xerial-64m":       {CodecSnappy, btXerial(rep(zeros, 64), 1<<20)},
		"xerial-claim-64m": {CodecSnappy, xerialLie},
	}
}

func TestDecompressBomb(t *testing.T) {
	const limit = 1 << 20
	for name, bomb := range btBombs(t) {
		t.Run(name, func(t *testing.T) {
			var err error
			alloc := btAllocated(func() {
				_, err = Decompress(nil, bomb.src, bomb.c, limit)
			})
			if !errors.Is(err, ErrDecompressedTooLarge) {
				t.Fatalf("err = %v, want ErrDecompressedTooLarge", err)
			}
			// The output never passes the limit; the rest is the codecs' working memory and the
			// doubling of the output buffer on the way to the limit.
			if alloc > 4*limit+(1<<20) {
				t.Fatalf("allocated %d bytes for a %d-byte limit", alloc, limit)
			}
			t.Logf("%s: %d compressed bytes, %d allocated, err %v", name, len(bomb.src), alloc, err)
		})
	}
}

// TestDecompressAllocs checks that the decoder pools work: a warm decompress of a small payload
// allocates only its output.
func TestDecompressAllocs(t *testing.T) {
	if btRaceEnabled() {
		t.Skip("allocation counts are meaningless with -race")
	}
	in := btText(btRand(4), 8<<10)
	for _, c := range btCodecs {
		comp, err := Compress(nil, in, c, 0)
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]byte, 0, 2*len(in))
		allocs := testing.AllocsPerRun(50, func() {
			if _, err := Decompress(dst, comp, c, 1<<20); err != nil {
				t.Fatal(err)
			}
		})
		cdst := make([]byte, 0, 2*len(in))
		callocs := testing.AllocsPerRun(50, func() {
			if _, err := Compress(cdst, in, c, 0); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%s: %.1f allocs/decompress, %.1f allocs/compress", c, allocs, callocs)
		if allocs > 2 || callocs > 2 {
			t.Errorf("%s: %.1f allocs/decompress, %.1f allocs/compress with a large enough dst", c, allocs, callocs)
		}
	}
}

// btStallReader returns (0, nil) forever after its data.
type btStallReader struct{ data []byte }

func (r *btStallReader) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadBoundedNoProgress(t *testing.T) {
	for _, limit := range []int{3, 100} {
		out, err := codecReadBounded(nil, &btStallReader{data: []byte("abc")}, limit, 0)
		if !errors.Is(err, io.ErrNoProgress) || string(out) != "abc" {
			t.Errorf("limit %d: %q, %v", limit, out, err)
		}
	}
	out, err := codecReadBounded([]byte("x"), bytes.NewReader(bytes.Repeat([]byte("y"), 5000)), 5000, 10)
	if err != nil || len(out) != 5001 || out[0] != 'x' {
		t.Errorf("exact limit: %d bytes, %v", len(out), err)
	}
	if _, err := codecReadBounded(nil, bytes.NewReader(make([]byte, 5001)), 5000, 10); !errors.Is(err, ErrDecompressedTooLarge) {
		t.Errorf("limit+1: %v", err)
	}
}

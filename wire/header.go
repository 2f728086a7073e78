package wire

// Header is a record header: a key and a value (nil is a null value).
type Header struct {
	Key   string
	Value []byte
}

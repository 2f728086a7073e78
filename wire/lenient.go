package wire

// Response decoding follows the Kafka clients' rule (Java's generated readers, franz-go's kmsg): read
// the fields of the negotiated version, skip unknown tagged fields, and ignore whatever follows the
// last known field. Some Kafka-protocol brokers send such bytes (librdkafka's mock cluster appends
// one to its flexible Metadata answers and a malformed tail to its ApiVersions v4 refusal); a
// strict decoder would drop the connection over bytes no field needs. Every length is still
// checked against the bytes left, so leniency never lets input justify an allocation it cannot back.

// ReadResponse decodes body into resp at version and returns how many bytes followed the version's
// last field (ignored). The connection logs a non-zero count once per response at Debug.
func ReadResponse(resp Response, body []byte, version int16) (trailing int, err error) {
	return resp.decode(body, version)
}

// finish returns the sticky error, or else the count of unread bytes.
func (r *Reader) finish() (trailing int, err error) {
	if r.err != nil {
		return 0, r.err
	}
	return len(r.Src), nil
}

// ReadFrom decodes the response body at version (1–13), ignoring trailing bytes.
func (resp *MetadataResponse) ReadFrom(src []byte, version int16) error {
	_, err := resp.decode(src, version)
	return err
}

// ReadFrom decodes the response body at version (3–13), ignoring trailing bytes.
func (resp *ProduceResponse) ReadFrom(src []byte, version int16) error {
	_, err := resp.decode(src, version)
	return err
}

// ReadFrom decodes the response body at version (0–5), ignoring trailing bytes.
func (resp *InitProducerIDResponse) ReadFrom(src []byte, version int16) error {
	_, err := resp.decode(src, version)
	return err
}

// ReadFrom decodes the response body at version (0–6), ignoring trailing bytes.
func (resp *FindCoordinatorResponse) ReadFrom(src []byte, version int16) error {
	_, err := resp.decode(src, version)
	return err
}

// ReadFrom decodes the response body at version (0–3), ignoring trailing bytes.
func (resp *AddPartitionsToTxnResponse) ReadFrom(src []byte, version int16) error {
	_, err := resp.decode(src, version)
	return err
}

// ReadFrom decodes the response body at version (0–4), ignoring trailing bytes.
func (resp *AddOffsetsToTxnResponse) ReadFrom(src []byte, version int16) error {
	_, err := resp.decode(src, version)
	return err
}

// ReadFrom decodes the response body at version (0–5), ignoring trailing bytes.
func (resp *EndTxnResponse) ReadFrom(src []byte, version int16) error {
	_, err := resp.decode(src, version)
	return err
}

// ReadFrom decodes the response body at version (0–5), ignoring trailing bytes.
func (resp *TxnOffsetCommitResponse) ReadFrom(src []byte, version int16) error {
	_, err := resp.decode(src, version)
	return err
}

// ReadFrom decodes the response body at version (0–1), ignoring trailing bytes.
func (resp *SaslHandshakeResponse) ReadFrom(src []byte, version int16) error {
	_, err := resp.decode(src, version)
	return err
}

// ReadFrom decodes the response body at version (0–2), ignoring trailing bytes.
func (resp *SaslAuthenticateResponse) ReadFrom(src []byte, version int16) error {
	_, err := resp.decode(src, version)
	return err
}

// ReadFrom decodes the response body at version (0–4), ignoring trailing bytes; see decode for the
// UNSUPPORTED_VERSION fallback.
func (resp *ApiVersionsResponse) ReadFrom(src []byte, version int16) error {
	_, err := resp.decode(src, version)
	return err
}

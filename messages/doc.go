package messages

// Every message type below is sent as a pointer and never mutated after it is sent. Commands are
// imperative (Append, RefreshMetadata), events past tense (BatchDone, MetadataUpdated). The actors that send
// and receive each one are named in its comment.
//
// Produce, Delivered, Flush, Flushed, Close and Closed (produce.go) are the API of actor users,
// who spawn the producer with kastor.Props; the others are kastor's own.

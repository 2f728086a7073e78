package wire

// FeatureTransactionVersion is the finalized feature (KIP-584) that says which transaction
// protocol a cluster runs: level 2 and up is KIP-890's transactions v2 (partitions added to the
// transaction by Produce itself, the producer epoch bumped by every EndTxn).
const FeatureTransactionVersion = "transaction.version"

// FinalizedFeatureLevel returns the cluster-wide finalized max version level of the feature name,
// and false when the broker did not finalize it (or sent no features: before ApiVersions v3).
func (resp *ApiVersionsResponse) FinalizedFeatureLevel(name string) (int16, bool) {
	for _, f := range resp.FinalizedFeatures {
		if f.Name == name {
			return f.MaxVersionLevel, true
		}
	}
	return 0, false
}

// TransactionsV2 reports whether the broker advertises transactions v2: a finalized
// transaction.version of 2 or more, as the Java client checks. A transactional producer then skips
// AddPartitionsToTxn and AddOffsetsToTxn and sends EndTxn v5, TxnOffsetCommit v5 and Produce v12+;
// otherwise it must keep to EndTxn v4, TxnOffsetCommit v4 and Produce v11.
func (resp *ApiVersionsResponse) TransactionsV2() bool {
	level, ok := resp.FinalizedFeatureLevel(FeatureTransactionVersion)
	return ok && level >= 2
}

// The highest versions a producer of the classic transaction protocol (transactions v1) may send:
// the next versions of these APIs tell the broker the producer speaks transactions v2.
const (
	EndTxnMaxVersionV1          int16 = 4
	TxnOffsetCommitMaxVersionV1 int16 = 4
	ProduceMaxVersionV1         int16 = 11
)

//go:build !kastor_faultinject

package faultinject

import "github.com/kastor-go/kastor/messages"

// AccumulatorAppend does nothing without the kastor_faultinject tag.
func AccumulatorAppend(messages.TopicPartition) {}

// AccumulatorAppended does nothing without the kastor_faultinject tag.
func AccumulatorAppended(messages.TopicPartition) {}

// ConnectionCall does nothing without the kastor_faultinject tag.
func ConnectionCall(int32) {}

// SenderRoute does nothing without the kastor_faultinject tag.
func SenderRoute() {}

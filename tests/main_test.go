// Package tests holds kastor's black-box tests: the public API against an in-process kfake
// cluster, with what arrived read back by an independent consumer (franz-go's kgo).
package tests

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

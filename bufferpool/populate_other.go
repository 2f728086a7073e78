//go:build !linux

package bufferpool

const mapPopulate = 0

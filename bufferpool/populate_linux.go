package bufferpool

import "golang.org/x/sys/unix"

// mapPopulate has the kernel fault a new chunk's pages in at once, in one go, instead of one trap
// per page the first time a batch is written there.
const mapPopulate = unix.MAP_POPULATE

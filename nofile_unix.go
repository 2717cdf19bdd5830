//go:build unix

package main

import (
	"syscall"

	"github.com/valyala/fasthttp"
)

// descriptorReserve is what the descriptor budget keeps for the
// listeners, the log, the root and the directory syncs.
const descriptorReserve = 64

// connectionLimit is how many connections are served at once; fasthttp
// answers more with 503 and closes them. It follows the descriptor limit
// (the unit's LimitNOFILE): after a reserve of 64, five eighths go to the
// connections' sockets, an eighth to the sockets of closed connections
// still lingering (see conn.Close), which fasthttp no longer counts (at
// most lingerLimit), and a quarter to the files that requests hold open
// while they run (a download's file, an upload's temporary file). Most
// connections of a busy server are idle keep-alive ones, which hold their
// socket and nothing else; should the requests running at once need more
// files all the same, the ones that find none get 503 and the server
// serves on. So LimitNOFILE=65536 serves 40,920 connections with 8,184
// lingering, and a limit of 20,000 serves 12,460; never fewer than 8. Go
// raises the soft limit to the hard one at start.
func connectionLimit() int {
	b := descriptorBudget()
	if b < 0 {
		return fasthttp.DefaultConcurrency
	}
	return max(8, b*5/8)
}

// lingerLimit is how many closed connections may linger at once: the
// eighth of the descriptor budget that connectionLimit leaves them. Past
// it, a connection closes at once.
func lingerLimit() int {
	b := descriptorBudget()
	if b < 0 {
		return fasthttp.DefaultConcurrency
	}
	return max(2, b/8)
}

// cachedFileLimit is how many files the cache may hold open (see
// store.Cache.MaxOpen): an eighth of the files' quarter of the descriptor
// budget (see connectionLimit), so that requests always have the rest,
// and no more than 512, what the cache's 8 MiB would hold of them in
// memory.
func cachedFileLimit() int {
	b := descriptorBudget()
	if b < 0 {
		return 512
	}
	return min(512, b/32)
}

// descriptorBudget is the descriptor limit less the reserve, or -1 when
// there is no limit to speak of.
func descriptorBudget() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<24 {
		return -1
	}
	return max(0, int(lim.Cur)-descriptorReserve)
}

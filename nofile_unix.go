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
// (the unit's LimitNOFILE), which it splits in thirds after a reserve of
// 64: the connections' sockets, the file each connection may hold open
// besides its socket, and the sockets of closed connections still
// lingering (see conn.Close), which fasthttp no longer counts (at most
// lingerLimit). So LimitNOFILE=65536 serves (65536-64)/3 = 21,824
// connections with as many lingering; a limit of 100 serves 12 with 12
// lingering; never fewer than 8. Go raises the soft limit to the hard one
// at start.
func connectionLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<24 {
		return fasthttp.DefaultConcurrency
	}
	return max(8, (int(lim.Cur)-descriptorReserve)/3)
}

// lingerLimit is how many closed connections may linger at once: the
// third of the descriptor budget that connectionLimit leaves them. Past
// it, a connection closes at once.
func lingerLimit() int { return connectionLimit() }

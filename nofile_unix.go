//go:build unix

package main

import (
	"syscall"

	"github.com/valyala/fasthttp"
)

// connectionLimit is how many connections are served at once; fasthttp
// answers more with 503 and closes them. It follows the descriptor limit
// (the unit's LimitNOFILE): each connection may hold a file open besides
// its socket, and a reserve stays for the listeners, the log and the
// directory syncs. Go raises the soft limit to the hard one at start.
func connectionLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<24 {
		return fasthttp.DefaultConcurrency
	}
	const reserve = 64
	return max(8, (int(lim.Cur)-reserve)/2)
}

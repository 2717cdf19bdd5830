//go:build !unix

package main

import "github.com/valyala/fasthttp"

// connectionLimit is fasthttp's default where there is no descriptor limit
// to follow.
func connectionLimit() int { return fasthttp.DefaultConcurrency }

// lingerLimit is how many closed connections may linger at once (see
// conn.Close): as many as are served.
func lingerLimit() int { return connectionLimit() }

// cachedFileLimit is how many files the cache may hold open (see
// store.Cache.MaxOpen).
func cachedFileLimit() int { return 512 }

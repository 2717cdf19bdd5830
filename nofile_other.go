//go:build !unix

package main

import "github.com/valyala/fasthttp"

// connectionLimit is fasthttp's default where there is no descriptor limit
// to follow.
func connectionLimit() int { return fasthttp.DefaultConcurrency }

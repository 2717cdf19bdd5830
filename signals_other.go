//go:build !unix

package main

import (
	"os"
	"syscall"
)

// handledSignals are the signals the server takes over: SIGTERM and
// SIGINT stop it, SIGHUP reloads the TLS certificate (see reloadSignal),
// the others are logged and change nothing.
var handledSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// reloadSignal re-reads the TLS certificate pair.
const reloadSignal = syscall.SIGHUP

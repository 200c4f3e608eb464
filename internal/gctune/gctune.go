// Package gctune applies a process's own garbage-collector defaults, which the
// environment variables GOGC and GOMEMLIMIT override.
package gctune

import (
	"os"
	"runtime/debug"
)

// Apply sets the GC percent, unless GOGC is set, and the soft memory limit, unless
// GOMEMLIMIT is set. It reports whether it set the GC percent.
func Apply(percent int, limit int64) (percentSet bool) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
		percentSet = true
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
	return percentSet
}

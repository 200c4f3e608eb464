package agent

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/plantbridge/plantbridge/internal/gctune"
)

// Garbage-collector settings of the agent process, unless GOGC or GOMEMLIMIT say otherwise.
const (
	// gcPercent lets the heap grow to 5× the live heap between collections: a sync maps
	// every source row into fresh maps, so collections, not SQL, bound the read rate at
	// the default of 100 (180k against 216k rows/s on a 1M-row Maximo read).
	gcPercent = 400
	// memoryLimit is the soft ceiling that keeps gcPercent from letting the heap run
	// away: the collector works harder near it instead of growing past it.
	memoryLimit = 64 << 20
)

// TuneRuntime applies the agent's garbage-collector settings. The environment variables
// GOGC and GOMEMLIMIT, when set, win.
func TuneRuntime() {
	tunedGC.Store(gctune.Apply(gcPercent, memoryLimit))
}

// tunedGC is set once TuneRuntime chose the GC percent: an idle agent then collects at
// idleGCPercent, since the reason for gcPercent, the garbage of a large read, is gone;
// each sync run goes back to gcPercent (busyGC).
var tunedGC atomic.Bool

// idleGCPercent is Go's default.
const idleGCPercent = 100

// busyGC goes back to gcPercent for a sync run, if TuneRuntime chose the GC percent.
func busyGC() {
	if tunedGC.Load() {
		debug.SetGCPercent(gcPercent)
	}
}

// trimEvery is how often an idle agent looks at whether to give memory back, and
// trimAfter how much the agent must have allocated since it last did.
const (
	trimEvery = 10 * time.Second
	trimAfter = 8 << 20
)

// trimMemory gives the heap's free pages back to the system once the agent is idle
// and has allocated trimAfter since it last did. With gcPercent at 400, a sync leaves
// a heap several times the size of what the agent keeps, and an idle agent allocates
// too little to collect it: after the first sync of a small plant it held some 38 MiB
// of anonymous memory, against 7 MiB after a restart. idle says whether the agent is
// idle now (no sync running, nothing queued); trim gives the memory back
// (debug.FreeOSMemory).
func trimMemory(ctx context.Context, idle func() bool, trim func()) {
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		isIdle := idle()
		if isIdle && tunedGC.Load() {
			debug.SetGCPercent(idleGCPercent)
		}
		metrics.Read(sample)
		allocated := sample[0].Value.Uint64()
		if allocated-last < trimAfter || !isIdle {
			continue
		}
		trim()
		last = allocated
	}
}

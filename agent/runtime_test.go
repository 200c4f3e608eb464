package agent

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

var sink []byte

// TestTrimMemory: an idle agent that has allocated gives memory back once per
// allocation of trimAfter, and a busy one waits until it is idle.
func TestTrimMemory(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(gcPercent))
	defer tunedGC.Store(tunedGC.Load())
	tunedGC.Store(true)
	gcNow := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }
	synctest.Test(t, func(t *testing.T) {
		var busy atomic.Bool
		var trims atomic.Int32
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			trimMemory(ctx, func() bool { return !busy.Load() }, func() { trims.Add(1) })
		}()
		allocate := func() {
			for range 2 * trimAfter >> 20 {
				sink = make([]byte, 1<<20)
			}
		}
		tick := func() { time.Sleep(trimEvery); synctest.Wait() }

		allocate()
		tick()
		if n := trims.Load(); n != 1 {
			t.Fatalf("after a sync's worth of allocation: %d trims, want 1", n)
		}
		if p := gcNow(); p != idleGCPercent {
			t.Errorf("idle agent collects at GOGC %d, want %d", p, idleGCPercent)
		}
		busyGC() // a sync run starts
		if p := gcNow(); p != gcPercent {
			t.Errorf("a sync run collects at GOGC %d, want %d", p, gcPercent)
		}
		tick()
		if n := trims.Load(); n != 1 {
			t.Fatalf("an agent that allocated nothing since was trimmed again: %d trims", n)
		}
		busy.Store(true)
		allocate()
		tick()
		if n := trims.Load(); n != 1 {
			t.Fatalf("a busy agent was trimmed: %d trims", n)
		}
		busy.Store(false)
		tick()
		if n := trims.Load(); n != 2 {
			t.Fatalf("once idle again: %d trims, want 2", n)
		}
		cancel()
		<-done
	})
}

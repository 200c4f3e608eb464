// Package leaktest checks that a test leaves no goroutines behind.
package leaktest

import (
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// Check records the goroutines running now and registers a cleanup that fails the test
// if, once the test's other cleanups have run, goroutines remain that were not there
// before. It waits up to five seconds for goroutines that are on their way out.
// Call it first in a test, so its cleanup runs last.
func Check(tb testing.TB) {
	tb.Helper()
	before := map[string]bool{}
	for _, g := range goroutines() {
		before[g.id] = true
	}
	tb.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			var leaked []string
			for _, g := range goroutines() {
				if !before[g.id] && !ignorable(g.stack) {
					leaked = append(leaked, g.stack)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				sort.Strings(leaked)
				tb.Errorf("%d goroutines leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

type goroutine struct{ id, stack string }

func goroutines() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var gs []goroutine
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		// "goroutine 12 [running]:"
		fields := strings.Fields(header)
		if len(fields) < 2 {
			continue
		}
		gs = append(gs, goroutine{id: fields[1], stack: g})
	}
	return gs
}

// ignorable goroutines belong to the runtime or the test framework, not to the code
// under test.
func ignorable(stack string) bool {
	for _, s := range []string{
		"testing.(*T).Run",
		"testing.tRunner",
		"testing.runFuzzing",
		"runtime.goexit0",
		"created by runtime.gc",
		"runtime.MHeap_Scavenger",
		"signal.signal_recv",
		"leaktest.goroutines",
		"net/http.(*persistConn)", // idle keep-alive conns of http.DefaultTransport
	} {
		if strings.Contains(stack, s) && !strings.Contains(stack, "plantbridge") {
			return true
		}
	}
	return false
}

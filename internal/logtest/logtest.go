// Package logtest gives tests a *slog.Logger that writes through t.Log, so log lines
// appear next to the test that produced them and only when it fails or runs verbose.
package logtest

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// New returns a logger that writes to tb.Log until the test ends and discards after
// that, since goroutines may still log while the test cleans up. Set PLANTBRIDGE_TEST_LOG=debug
// for debug lines.
func New(tb testing.TB) *slog.Logger {
	w := &writer{tb: tb}
	tb.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	level := slog.LevelInfo
	if os.Getenv("PLANTBRIDGE_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type writer struct {
	tb   testing.TB
	mu   sync.Mutex // guards done
	done bool
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Helper()
		w.tb.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

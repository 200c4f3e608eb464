package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plantbridge/plantbridge/internal/logtest"
)

// The Program is what the Windows service manager drives: Start must return at once and
// Stop must end the agent promptly, whatever the agent does. It is tested here without a
// service manager, with a fake clock.
func TestProgramStop(t *testing.T) {
	t.Run("agent stops when asked", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := NewProgram(func(ctx context.Context) error {
				<-ctx.Done()
				time.Sleep(2 * time.Second) // finishing the current batch
				return ctx.Err()            // canceled is how an agent ends when asked
			}, logtest.New(t))
			p.exit = func(int) { t.Error("exit called on a requested stop") }
			if err := p.Start(nil); err != nil {
				t.Fatal(err)
			}
			if err := p.Start(nil); err == nil {
				t.Error("second Start accepted")
			}
			start := time.Now()
			if err := p.Stop(nil); err != nil {
				t.Errorf("Stop: %v", err)
			}
			if d := time.Since(start); d != 2*time.Second {
				t.Errorf("Stop returned after %v, want when the agent returned (2s)", d)
			}
		})
	})

	t.Run("agent that does not stop", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			release := make(chan struct{})
			p := NewProgram(func(ctx context.Context) error {
				<-release // ignores ctx
				return nil
			}, logtest.New(t))
			p.exit = func(int) {}
			p.Start(nil)
			start := time.Now()
			err := p.Stop(nil)
			if err == nil || !strings.Contains(err.Error(), "did not stop within 8s") {
				t.Errorf("Stop: %v", err)
			}
			if d := time.Since(start); d != DefaultStopTimeout {
				t.Errorf("Stop gave up after %v, want %v", d, DefaultStopTimeout)
			}
			close(release)
		})
	})

	t.Run("agent error on stop", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := NewProgram(func(ctx context.Context) error {
				<-ctx.Done()
				return errors.New("outbox: disk full")
			}, logtest.New(t))
			p.Start(nil)
			if err := p.Stop(nil); err == nil || err.Error() != "outbox: disk full" {
				t.Errorf("Stop: %v", err)
			}
		})
	})

	t.Run("agent that ends by itself", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var code atomic.Int32
			code.Store(-1)
			p := NewProgram(func(ctx context.Context) error {
				return errors.New("open outbox: locked")
			}, logtest.New(t))
			p.exit = func(c int) { code.Store(int32(c)) }
			p.Start(nil)
			synctest.Wait()
			if code.Load() != 1 {
				t.Errorf("exit code %d, want 1 so that the service manager restarts the agent", code.Load())
			}
			if err := p.Stop(nil); err == nil || !strings.Contains(err.Error(), "locked") {
				t.Errorf("Stop after the agent ended: %v", err)
			}
		})
	})

	t.Run("stop before start", func(t *testing.T) {
		p := NewProgram(func(context.Context) error { return nil }, logtest.New(t))
		if err := p.Stop(nil); err != nil {
			t.Error(err)
		}
	})
}

func TestServiceConfig(t *testing.T) {
	o, err := Options{ConfigPath: "etc/agent.yaml"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	c := o.config()
	abs, _ := filepath.Abs("etc/agent.yaml")
	if c.Name != DefaultName || strings.Join(c.Arguments, " ") != "run --config "+abs+" --name "+DefaultName ||
		c.WorkingDirectory != filepath.Dir(abs) {
		t.Errorf("service config %+v", c)
	}
}

func TestLogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.log")
	l, err := OpenLogFile(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 39) + "\n") // 40 bytes
	for range 3 {
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	// The third line would pass 100 bytes: the first two moved to agent.log.1.
	if b, _ := os.ReadFile(path); len(b) != 40 {
		t.Errorf("current log holds %d bytes, want 40", len(b))
	}
	if b, _ := os.ReadFile(path + ".1"); len(b) != 80 {
		t.Errorf("previous log holds %d bytes, want 80", len(b))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Write(line); err == nil {
		t.Error("write after Close accepted")
	}
	// Reopened, it appends and counts what is there.
	l, _ = OpenLogFile(path, 100)
	l.Write(line)
	l.Write(line)
	l.Close()
	if b, _ := os.ReadFile(path); len(b) != 40 {
		t.Errorf("after reopening, current log holds %d bytes, want 40", len(b))
	}
}

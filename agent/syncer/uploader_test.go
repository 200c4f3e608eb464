package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/agent/internal/relaytest"
	"github.com/plantbridge/plantbridge/agent/outbox"
	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

var testAgents = map[string]string{"agent-1": "s3cret"}

// startClient runs the agent side of the tunnel to relayURL until the test ends.
func startClient(t *testing.T, relayURL string) *tunnel.Client {
	t.Helper()
	c, err := tunnel.NewClient(tunnel.ClientConfig{
		Dialer:           tunnel.DialerConfig{RelayURL: relayURL},
		Hello:            tunnel.Hello{AgentID: "agent-1", Secret: "s3cret", Version: "test", OS: "linux"},
		Backoff:          tunnel.Backoff{Base: 20 * time.Millisecond, Cap: 200 * time.Millisecond},
		HandshakeTimeout: 3 * time.Second,
		Logger:           logtest.New(t).With("side", "agent"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c
}

// upHarness is an outbox, an uploader and its own tunnel to a stand-in relay.
type upHarness struct {
	t      *testing.T
	ob     *outbox.Outbox
	up     *Uploader
	relay  *relaytest.Relay
	cancel context.CancelFunc
	done   chan struct{}
	n      int
}

func startUploader(t *testing.T, relay *relaytest.Relay, cfg UploaderConfig) *upHarness {
	t.Helper()
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{Logger: logtest.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	cfg.Outbox, cfg.Relay, cfg.Logger = ob, startClient(t, relay.URL()), logtest.New(t).With("side", "uploader")
	if cfg.Retry.Base == 0 {
		cfg.Retry = tunnel.Backoff{Base: 10 * time.Millisecond, Cap: 50 * time.Millisecond}
	}
	up, err := NewUploader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &upHarness{t: t, ob: ob, up: up, relay: relay, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		if err := up.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *upHarness) stop() {
	h.cancel()
	<-h.done
}

// put queues a batch of n records of a model.
func (h *upHarness) put(modelName string, n int) {
	h.t.Helper()
	var recs []string
	for range n {
		h.n++
		recs = append(recs, fmt.Sprintf(`{"id":"%s_%d","remote_id":"%d","remote_was_deleted":false}`, modelName, h.n, h.n))
	}
	if _, err := h.ob.Put(context.Background(), outbox.Batch{Model: modelName, Records: json.RawMessage("[" + strings.Join(recs, ",") + "]"),
		Count: n}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *upHarness) waitDrained() {
	h.t.Helper()
	waitFor(h.t, 10*time.Second, "the outbox to drain", func() bool { return h.ob.Stats().Items == 0 })
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUploaderDrainsInOrder(t *testing.T) {
	leaktest.Check(t)
	relay := relaytest.Start(t, testAgents)
	h := startUploader(t, relay, UploaderConfig{})
	h.put("work_orders", 3)
	h.put("assets", 2)
	h.ob.PutState(wire.SyncState{Model: "assets", Status: wire.SyncDone})
	h.put("work_orders", 1)
	h.ob.PutState(wire.SyncState{Model: "work_orders", Status: wire.SyncDone})
	h.waitDrained()
	want := []string{"batch work_orders", "batch assets", "state assets done", "batch work_orders", "state work_orders done"}
	if got := relay.Order(); !slices.Equal(got, want) {
		t.Errorf("relay applied %v, want %v", got, want)
	}
	if n := len(relay.Live("work_orders")); n != 4 {
		t.Errorf("relay holds %d work orders", n)
	}
	st := h.up.Status()
	if st.Sent != 5 || st.Records != 6 || st.LastAckAt == nil || st.Failures != 0 {
		t.Errorf("status %+v", st)
	}
}

// TestUploaderRelayAway buffers while the relay is down and drains by itself when it
// returns, also across a second outage in the middle of the drain.
func TestUploaderRelayAway(t *testing.T) {
	leaktest.Check(t)
	relay := relaytest.Start(t, testAgents)
	relay.Stop()
	h := startUploader(t, relay, UploaderConfig{Timeout: 200 * time.Millisecond})
	for range 20 {
		h.put("work_orders", 5)
	}
	waitFor(t, 5*time.Second, "a failed attempt", func() bool { return h.up.Status().Failures > 0 })
	if st := h.ob.Stats(); st.Batches != 20 {
		t.Fatalf("outbox has %d batches while the relay is away", st.Batches)
	}
	relay.Start()
	waitFor(t, 10*time.Second, "some batches through", func() bool { b, _, _ := relay.Counts(); return b >= 5 })
	relay.Stop()
	for range 5 {
		h.put("work_orders", 5)
	}
	time.Sleep(100 * time.Millisecond) // a relay that stays away a while
	relay.Start()
	h.waitDrained()
	if b, dups, rows := relay.Counts(); b != 25 || rows != 125 || len(relay.Live("work_orders")) != 125 {
		t.Errorf("relay applied %d batches (%d duplicates), %d rows, holds %d", b, dups, rows, len(relay.Live("work_orders")))
	}
	if st := h.up.Status(); st.Failures != 0 || st.LastError != "" {
		t.Errorf("status after the drain: %+v", st)
	}
}

// TestUploaderLostAck has the relay apply batches whose acknowledgment never arrives:
// the uploader sends them again, and the relay's answer that it had them empties the
// outbox without changing anything.
func TestUploaderLostAck(t *testing.T) {
	leaktest.Check(t)
	relay := relaytest.Start(t, testAgents)
	relay.LoseAcks(2)
	h := startUploader(t, relay, UploaderConfig{})
	for range 4 {
		h.put("work_orders", 2)
	}
	h.waitDrained()
	if b, dups, rows := relay.Counts(); b != 4 || dups != 2 || rows != 8 {
		t.Errorf("relay: %d batches, %d duplicates, %d rows; want 4, 2, 8", b, dups, rows)
	}
}

// TestUploaderRetriesServerErrors retries 5xx answers soon.
func TestUploaderRetriesServerErrors(t *testing.T) {
	leaktest.Check(t)
	relay := relaytest.Start(t, testAgents)
	var calls atomic.Int32
	relay.SetFail(func(string) int {
		if calls.Add(1) <= 3 {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	h := startUploader(t, relay, UploaderConfig{Rejected: tunnel.Backoff{Base: time.Hour, Cap: time.Hour}})
	h.put("assets", 1)
	h.waitDrained()
	if n := calls.Load(); n != 4 {
		t.Errorf("%d calls, want 4", n)
	}
}

// TestUploaderRejected has the relay refuse a batch with a 400: the batch stays at the
// head of the queue, the status says so, attempts slow to the long backoff, and once the
// relay takes it the queue drains.
func TestUploaderRejected(t *testing.T) {
	leaktest.Check(t)
	relay := relaytest.Start(t, testAgents)
	var calls atomic.Int32
	relay.SetFail(func(path string) int {
		calls.Add(1)
		return http.StatusBadRequest
	})
	h := startUploader(t, relay, UploaderConfig{Rejected: tunnel.Backoff{Base: time.Minute, Cap: time.Minute}})
	h.put("work_orders", 1)
	h.put("work_orders", 1)
	waitFor(t, 5*time.Second, "the rejection", func() bool { return h.up.Status().Rejected != nil })
	time.Sleep(300 * time.Millisecond) // long enough for a retry loop to show
	st := h.up.Status()
	if r := st.Rejected; r.Status != http.StatusBadRequest || r.Code != "INVALID_REQUEST" || r.Kind != "batch" || r.Model != "work_orders" {
		t.Errorf("rejection %+v", r)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d attempts right after a 400: that is a retry loop", n)
	}
	// Full jitter from a tenth of the ceiling up.
	if st.RetryAt == nil || time.Until(*st.RetryAt) < 5*time.Second {
		t.Errorf("next attempt at %v, want at least 6 s away", st.RetryAt)
	}
	if s := h.ob.Stats(); s.Batches != 2 {
		t.Errorf("outbox has %d batches; a refused batch must stay", s.Batches)
	}
	relay.SetFail(nil)
	h.up.Retry() // as a reconnect does
	h.waitDrained()
	if st := h.up.Status(); st.Rejected != nil || st.Sent != 2 {
		t.Errorf("after the relay took it: %+v", st)
	}
}

// TestUploaderStopsPromptly stops the uploader while it waits for a relay that is away.
func TestUploaderStopsPromptly(t *testing.T) {
	leaktest.Check(t)
	relay := relaytest.Start(t, testAgents)
	relay.Stop()
	h := startUploader(t, relay, UploaderConfig{StopGrace: 100 * time.Millisecond})
	h.put("work_orders", 1)
	time.Sleep(50 * time.Millisecond) // let the attempt begin
	start := time.Now()
	h.stop()
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("stop took %v", el)
	}
	if h.ob.Stats().Batches != 1 {
		t.Error("the unsent batch left the outbox")
	}
}

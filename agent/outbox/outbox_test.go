package outbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

func TestMain(m *testing.M) {
	if path := os.Getenv("OUTBOX_CRASH_CHILD"); path != "" {
		crashChild(path)
		return
	}
	os.Exit(m.Run())
}

func open(t *testing.T, path string, o Options) *Outbox {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "outbox.db")
	}
	if o.Logger == nil {
		o.Logger = logtest.New(t)
	}
	ob, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	return ob
}

// records returns a JSON array of n small records tagged with tag.
func records(tag string, n int) json.RawMessage {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"id":"%s-%d","remote_id":"%d"}`, tag, i, i)
	}
	return json.RawMessage("[" + strings.Join(parts, ",") + "]")
}

// decodeBatch parses an item's body as the relay would.
func decodeBatch(t *testing.T, it Item) wire.Batch {
	t.Helper()
	var b wire.Batch
	if err := json.Unmarshal(it.Body, &b); err != nil {
		t.Fatalf("item %d body %.100s: %v", it.Seq, it.Body, err)
	}
	return b
}

func TestQueueOrderAckAndStats(t *testing.T) {
	// With the cache, bodies come from memory; without, from the file.
	for _, cache := range []int64{0, -1} {
		t.Run(fmt.Sprintf("cache=%d", cache), func(t *testing.T) { testQueueOrderAckAndStats(t, cache) })
	}
}

func testQueueOrderAckAndStats(t *testing.T, cache int64) {
	leaktest.Check(t)
	ob := open(t, "", Options{CacheBytes: cache})
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		id, err := ob.Put(ctx, Batch{Model: "work_orders", Records: records("wo"+strconv.Itoa(i), 2), Count: 2, Watermark: strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := ob.PutState(wire.SyncState{Model: "work_orders", Status: wire.SyncDone}); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Put(ctx, Batch{Model: "assets", Count: 0, FullSyncID: "fs_1", FullSyncDone: true, Final: true}); err != nil {
		t.Fatal(err)
	}
	st := ob.Stats()
	if st.Items != 5 || st.Batches != 4 || st.Bytes <= 0 || st.Full {
		t.Fatalf("stats %+v", st)
	}
	if len(slices.Compact(slices.Clone(ids))) != 3 {
		t.Fatalf("batch ids repeat: %v", ids)
	}

	var got []string
	for {
		it, ok, err := ob.Peek(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		switch it.Kind {
		case KindBatch:
			b := decodeBatch(t, it)
			if b.BatchID != it.ID || b.Model != it.Model || len(b.Records) != it.Records || b.Records == nil {
				t.Errorf("item %+v decodes to %+v", it, b)
			}
			got = append(got, b.Model+":"+strconv.Itoa(len(b.Records))+":"+b.FullSyncID+":"+strconv.FormatBool(b.FullSyncDone))
		case KindSyncState:
			var s wire.SyncState
			if err := json.Unmarshal(it.Body, &s); err != nil {
				t.Fatal(err)
			}
			got = append(got, "state:"+s.Model+":"+s.Status)
		}
		if err := ob.Ack(it.Seq); err != nil {
			t.Fatal(err)
		}
		// A second ack of the same item changes nothing.
		if err := ob.Ack(it.Seq); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"work_orders:2::false", "work_orders:2::false", "work_orders:2::false", "state:work_orders:done",
		"assets:0:fs_1:true"}
	if !slices.Equal(got, want) {
		t.Errorf("order\n got %v\nwant %v", got, want)
	}
	if st := ob.Stats(); st.Items != 0 || st.Batches != 0 || st.Bytes != 0 {
		t.Errorf("stats after acks %+v", st)
	}
	if wm, _ := ob.Watermark(ctx, "work_orders"); wm != "2" {
		t.Errorf("watermark %q, want 2 (acks do not touch watermarks)", wm)
	}
}

func TestNextWaitsForAnItem(t *testing.T) {
	leaktest.Check(t)
	ob := open(t, "", Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan Item, 1)
	go func() {
		it, err := ob.Next(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- it
	}()
	if _, err := ob.Put(ctx, Batch{Model: "m", Records: records("a", 1), Count: 1}); err != nil {
		t.Fatal(err)
	}
	if it := <-got; it.Model != "m" || it.Records != 1 {
		t.Errorf("next = %+v", it)
	}
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	ob.Ack(1)
	if _, err := ob.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("next on an empty queue = %v, want the context's error", err)
	}
}

// TestStatesCoalesce checks that a model's newer state replaces its older queued one
// but stays behind the batches queued before it.
func TestStatesCoalesce(t *testing.T) {
	leaktest.Check(t)
	ob := open(t, "", Options{})
	ctx := context.Background()
	ob.PutState(wire.SyncState{Model: "a", Status: wire.SyncSyncing})
	ob.PutState(wire.SyncState{Model: "b", Status: wire.SyncSyncing})
	ob.Put(ctx, Batch{Model: "a", Records: records("a", 1), Count: 1})
	ob.PutState(wire.SyncState{Model: "a", Status: wire.SyncDone})
	if st := ob.Stats(); st.Items != 3 {
		t.Fatalf("items %d, want 3 (b's state, a's batch, a's newest state)", st.Items)
	}
	var got []string
	for {
		it, ok, _ := ob.Peek(ctx)
		if !ok {
			break
		}
		var s wire.SyncState
		json.Unmarshal(it.Body, &s)
		got = append(got, it.Kind.String()+":"+it.Model+":"+s.Status)
		ob.Ack(it.Seq)
	}
	want := []string{"sync_state:b:syncing", "batch:a:", "sync_state:a:done"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestRowHashSnapshot(t *testing.T) {
	leaktest.Check(t)
	ob := open(t, "", Options{})
	ctx := context.Background()
	if _, err := ob.Put(ctx, Batch{Model: "work_orders", Records: records("x", 3), Count: 3,
		Hashes: map[string]string{"1": "h1", "2": "h2", "3": "h3"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Put(ctx, Batch{Model: "assets", Records: records("y", 1), Count: 1,
		Hashes: map[string]string{"1": "other"}}); err != nil {
		t.Fatal(err)
	}
	// A changed hash and a forgotten key (a deletion).
	if _, err := ob.Put(ctx, Batch{Model: "work_orders", Records: records("x", 2), Count: 2,
		Hashes: map[string]string{"2": "h2b", "3": ""}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		model, id, hash string
		ok              bool
	}{{"work_orders", "1", "h1", true}, {"work_orders", "2", "h2b", true}, {"work_orders", "3", "", false},
		{"assets", "1", "other", true}, {"assets", "2", "", false}} {
		h, ok, err := ob.Hash(c.model, c.id)
		if err != nil || h != c.hash || ok != c.ok {
			t.Errorf("Hash(%s, %s) = %q, %v, %v; want %q, %v", c.model, c.id, h, ok, err, c.hash, c.ok)
		}
	}
	var keys []string
	if err := ob.Keys("work_orders", func(id string) error {
		keys = append(keys, id)
		// A read queues batches while it walks the snapshot.
		_, err := ob.Put(ctx, Batch{Model: "work_orders", Count: 0, Hashes: map[string]string{id + "0": "new"}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"1", "2"}) {
		t.Errorf("keys %v, want [1 2]", keys)
	}
	stop := errors.New("stop")
	if err := ob.Keys("work_orders", func(string) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Keys returns fn's error: %v", err)
	}
}

// TestBufferBound fills a small outbox: the writer waits (the outbox says full), loses
// nothing, and goes on once the uploader has freed space down to the low mark.
func TestBufferBound(t *testing.T) {
	leaktest.Check(t)
	var fullChanges atomic.Int32
	ob := open(t, "", Options{MaxBytes: 10_000, CompressAbove: -1, OnFull: func() { fullChanges.Add(1) }})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs := records("r", 8) // about 300 bytes: several fit into the 10% between full and resuming
	put := func(i int) error {
		_, err := ob.Put(ctx, Batch{Model: "m", Records: recs, Count: 8, Watermark: strconv.Itoa(i)})
		return err
	}
	n := 0
	for ob.Stats().Bytes+int64(len(recs))+100 <= 10_000 {
		if err := put(n); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d batches fit", n)
	}
	// The next batch does not fit: the writer waits.
	done := make(chan error, 1)
	go func() { done <- put(n) }()
	waitFor(t, "the outbox to say full", func() bool { return ob.Stats().Full })
	if fullChanges.Load() != 1 {
		t.Errorf("OnFull called %d times, want 1", fullChanges.Load())
	}
	select {
	case err := <-done:
		t.Fatalf("writer did not wait for space: %v", err)
	case <-time.After(50 * time.Millisecond): // a writer that should stay blocked
	}
	if wm, _ := ob.Watermark(ctx, "m"); wm != strconv.Itoa(n-1) {
		t.Errorf("watermark %s while the writer waits, want %d", wm, n-1)
	}
	// One ack frees a batch's worth but not down to 90%: still full.
	it, _, _ := ob.Peek(ctx)
	ob.Ack(it.Seq)
	select {
	case err := <-done:
		t.Fatalf("writer resumed above the low mark: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	for ob.Stats().Bytes > 9_000 {
		it, _, _ := ob.Peek(ctx)
		ob.Ack(it.Seq)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ob.Stats().Full || fullChanges.Load() != 2 {
		t.Errorf("after draining: full %v, OnFull calls %d (want false, 2)", ob.Stats().Full, fullChanges.Load())
	}
	if wm, _ := ob.Watermark(ctx, "m"); wm != strconv.Itoa(n) {
		t.Errorf("watermark %s, want %d", wm, n)
	}
	// Nothing dropped: the queue ends with every batch not acknowledged, in order.
	var last int
	for {
		it, ok, _ := ob.Peek(ctx)
		if !ok {
			break
		}
		last++
		ob.Ack(it.Seq)
	}
	if last == 0 {
		t.Error("queue empty; the last batch is missing")
	}

	// A writer waiting for space gives up when its context ends, writing nothing.
	for ob.Stats().Bytes+int64(len(recs))+100 <= 10_000 {
		put(0)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer wcancel()
	before := ob.Stats()
	if _, err := ob.Put(wctx, Batch{Model: "m", Records: recs, Count: 8, Watermark: "late"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("put on a full outbox with an ending context = %v", err)
	}
	if wm, _ := ob.Watermark(ctx, "m"); wm == "late" || ob.Stats().Items != before.Items {
		t.Errorf("a put that gave up wrote something: watermark %s, items %d → %d", wm, before.Items, ob.Stats().Items)
	}
}

// TestReadAheadPacing checks that a writer stops ReadAhead bytes ahead while the
// uploader acknowledges items, and goes on alone once acknowledgments stop.
func TestReadAheadPacing(t *testing.T) {
	leaktest.Check(t)
	synctest.Test(t, func(t *testing.T) {
		ob := open(t, "", Options{ReadAhead: 1000, CompressAbove: -1})
		ctx := context.Background()
		recs := records("p", 10) // about 400 bytes
		// No acknowledgment yet: nothing to pace against.
		for range 4 {
			if _, err := ob.Put(ctx, Batch{Model: "m", Records: recs, Count: 10}); err != nil {
				t.Fatal(err)
			}
		}
		it, _, _ := ob.Peek(ctx)
		ob.Ack(it.Seq)
		done := make(chan error, 1)
		go func() {
			_, err := ob.Put(ctx, Batch{Model: "m", Records: recs, Count: 10})
			done <- err
		}()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("writer did not wait for a working uploader: %v", err)
		default:
		}
		if ob.Stats().Full {
			t.Error("pacing reported as a full buffer")
		}
		// An acknowledgment frees space below the read-ahead: the writer goes on.
		for ob.Stats().Bytes > 500 {
			it, _, _ := ob.Peek(ctx)
			ob.Ack(it.Seq)
		}
		synctest.Wait()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Acknowledgments stop (the relay went away): after two seconds writers fill the
		// outbox as far as MaxBytes allows.
		it, _, _ = ob.Peek(ctx)
		ob.Ack(it.Seq)
		start := time.Now()
		for range 10 {
			if _, err := ob.Put(ctx, Batch{Model: "m", Records: recs, Count: 10}); err != nil {
				t.Fatal(err)
			}
		}
		if waited := time.Since(start); waited < keepingUp || waited > keepingUp+time.Second {
			t.Errorf("writers waited %v once acknowledgments stopped, want about %v", waited, keepingUp)
		}
		ob.Close()
	})
}

// TestOversizedBatchFitsAnEmptyQueue checks that a batch larger than the whole limit is
// taken when the queue is empty, so that it cannot stop the agent for good.
func TestOversizedBatchFitsAnEmptyQueue(t *testing.T) {
	leaktest.Check(t)
	ob := open(t, "", Options{MaxBytes: 100, CompressAbove: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := ob.Put(ctx, Batch{Model: "m", Records: records("big", 20), Count: 20}); err != nil {
		t.Fatal(err)
	}
}

func TestCompressedBacklog(t *testing.T) {
	leaktest.Check(t)
	// No cache, so the compressed body is read back and inflated.
	ob := open(t, "", Options{CompressAbove: 1, CacheBytes: -1})
	ctx := context.Background()
	recs := records("c", 200)
	ob.Put(ctx, Batch{Model: "m", Records: recs, Count: 200}) // stored as is: the queue was empty
	first := ob.Stats().Bytes
	ob.Put(ctx, Batch{Model: "m", Records: recs, Count: 200}) // behind a backlog: compressed
	if second := ob.Stats().Bytes - first; second*3 > first {
		t.Errorf("second batch takes %d bytes, first %d: not compressed", second, first)
	}
	for range 2 {
		it, _, err := ob.Peek(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b := decodeBatch(t, it); len(b.Records) != 200 {
			t.Errorf("batch has %d records after decompression", len(b.Records))
		}
		ob.Ack(it.Seq)
	}
}

func TestFullSyncStateAndTimes(t *testing.T) {
	leaktest.Check(t)
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob := open(t, path, Options{})
	ctx := context.Background()
	id, err := ob.BeginFullSync("work_orders", "fs_a")
	if err != nil || id != "fs_a" {
		t.Fatalf("begin = %s, %v", id, err)
	}
	ob.Put(ctx, Batch{Model: "work_orders", Records: records("a", 1), Count: 1, FullSyncID: id, Watermark: "w1"})
	// A restarted agent asks again with a new id and is told to resume the first.
	if id, _ := ob.BeginFullSync("work_orders", "fs_b"); id != "fs_a" {
		t.Errorf("second begin = %s, want the one in progress", id)
	}
	ob.Close()

	ob = open(t, path, Options{})
	ms, err := ob.Models(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := ms["work_orders"]; m.FullSyncID != "fs_a" || m.Watermark != "w1" || m.FullStartedAt.IsZero() {
		t.Errorf("after reopen: %+v", m)
	}
	if st := ob.Stats(); st.Items != 1 || st.Batches != 1 {
		t.Errorf("after reopen: %+v", st)
	}
	ob.Put(ctx, Batch{Model: "work_orders", Count: 0, FullSyncID: "fs_a", FullSyncDone: true, Final: true, Watermark: "w2"})
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	end := start.Add(time.Minute)
	ob.PutState(wire.SyncState{Model: "work_orders", Status: wire.SyncDone, Full: true, LastSyncStart: &start, LastSuccessfulSyncAt: &end})
	ob.PutState(wire.SyncState{Model: "assets", Status: wire.SyncDone, LastSyncStart: &start, LastSuccessfulSyncAt: &end})
	ms, _ = ob.Models(ctx)
	if m := ms["work_orders"]; m.FullSyncID != "" || m.Watermark != "w2" || !m.LastFullAt.Equal(start) || !m.LastSuccessAt.Equal(end) {
		t.Errorf("after the final batch: %+v", m)
	}
	if m := ms["assets"]; !m.LastFullAt.IsZero() || !m.LastSuccessAt.Equal(end) {
		t.Errorf("an incremental run set the full time: %+v", m)
	}
}

func TestBatchIDsDifferAcrossOpens(t *testing.T) {
	leaktest.Check(t)
	path := filepath.Join(t.TempDir(), "outbox.db")
	ctx := context.Background()
	seen := map[string]bool{}
	for range 3 {
		ob := open(t, path, Options{})
		for range 2 {
			id, err := ob.Put(ctx, Batch{Model: "m", Count: 0})
			if err != nil {
				t.Fatal(err)
			}
			if seen[id] {
				t.Fatalf("batch id %s repeats", id)
			}
			seen[id] = true
		}
		ob.Close()
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob := open(t, path, Options{})
	ob.db.Exec(`PRAGMA user_version = 9`)
	ob.Close()
	if _, err := Open(path, Options{Logger: logtest.New(t)}); err == nil || !strings.Contains(err.Error(), "upgrade the agent") {
		t.Errorf("open of a newer outbox = %v", err)
	}
}

// crashHashKeys is how many row-hash keys the crash child cycles through.
const crashHashKeys = 7

// crashChild queues numbered batches until it is killed: batch i has watermark i, one
// record tagged i and the row hash of key i%7 set to h<i>; every third batch it
// acknowledges the oldest item, as the uploader would. It reports each committed
// batch on stdout.
func crashChild(path string) {
	ob, err := Open(path, Options{Logger: slogDiscard(), CompressAbove: 8 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	wm, _ := ob.Watermark(ctx, "m")
	i, _ := strconv.Atoi(wm)
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	for {
		i++
		rec := fmt.Sprintf(`[{"i":%d,"pad":%q}]`, i, strings.Repeat("x", rand.IntN(3000)))
		k := strconv.Itoa(i % crashHashKeys)
		if _, err := ob.Put(ctx, Batch{Model: "m", Records: json.RawMessage(rec), Count: 1, Watermark: strconv.Itoa(i),
			Hashes: map[string]string{k: "h" + strconv.Itoa(i)}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(out, i)
		out.Flush()
		if i%3 == 0 {
			if it, ok, _ := ob.Peek(ctx); ok {
				ob.Ack(it.Seq)
			}
		}
	}
}

// TestCrashSafety kills a writing process with SIGKILL at random moments, again and
// again, and checks after each kill that no committed batch was lost, that the stored
// watermark is exactly that of the last queued batch (never ahead of its batch), that
// the queue has no gap, and that the row hashes match the watermark.
func TestCrashSafety(t *testing.T) {
	leaktest.Check(t)
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "outbox.db")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for round := range 8 {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "OUTBOX_CRASH_CHILD="+path)
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || sc.Text() != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child did not start", round)
		}
		// Kill at a random moment after a random amount of work.
		kill := time.AfterFunc(time.Duration(20+rand.IntN(120))*time.Millisecond, func() {
			cmd.Process.Signal(syscall.SIGKILL)
		})
		reported := 0
		for sc.Scan() {
			if n, err := strconv.Atoi(sc.Text()); err == nil {
				reported = n
			}
		}
		kill.Stop()
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		ob, err := Open(path, Options{Logger: logtest.New(t)})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		wmText, _ := ob.Watermark(ctx, "m")
		wm, _ := strconv.Atoi(wmText)
		if wm < reported {
			t.Fatalf("round %d: watermark %d, but batch %d was reported committed", round, wm, reported)
		}
		var queued []int
		rows, err := ob.db.Query(`SELECT seq FROM items ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for rows.Next() {
			var s int64
			rows.Scan(&s)
			seqs = append(seqs, s)
		}
		rows.Close()
		for range seqs {
			it, ok, err := ob.Peek(ctx)
			if err != nil || !ok {
				t.Fatalf("round %d: peek: %v", round, err)
			}
			var b struct {
				Records []struct{ I int } `json:"records"`
			}
			if err := json.Unmarshal(it.Body, &b); err != nil || len(b.Records) != 1 {
				t.Fatalf("round %d: item %d is damaged: %v", round, it.Seq, err)
			}
			queued = append(queued, b.Records[0].I)
			// Take it out to read the next, and put nothing back: the next round goes on
			// from the watermark with an emptier queue, which is what an uploader does.
			ob.Ack(it.Seq)
		}
		if len(queued) > 0 {
			if queued[len(queued)-1] != wm {
				t.Fatalf("round %d: the last queued batch is %d but the watermark is %d", round, queued[len(queued)-1], wm)
			}
			for i := 1; i < len(queued); i++ {
				if queued[i] != queued[i-1]+1 {
					t.Fatalf("round %d: gap in the queue: %v", round, queued)
				}
			}
		}
		for k := range crashHashKeys {
			want := ""
			for i := wm; i > 0; i-- {
				if i%crashHashKeys == k {
					want = "h" + strconv.Itoa(i)
					break
				}
			}
			if h, _, _ := ob.Hash("m", strconv.Itoa(k)); h != want {
				t.Fatalf("round %d: row hash of key %d is %q, want %q (watermark %d)", round, k, h, want, wm)
			}
		}
		t.Logf("round %d: killed after %d reported, watermark %d, %d batches queued", round, reported, wm, len(queued))
		ob.Close()
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

//go:build linux

// Package syncbench measures the agent's initial sync end to end: a Maximo demo
// database read by the agent, through its outbox and tunnel, to a receiver in another
// process. The receiver runs apart so that the process measured is the agent alone.
package syncbench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/agent"
	"github.com/plantbridge/plantbridge/connectors"
	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/relay"
	"github.com/plantbridge/plantbridge/relay/store"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// receiverEnv makes the test binary act as the receiving relay.
const receiverEnv = "PLANTBRIDGE_SYNCBENCH_RECEIVER"

func TestMain(m *testing.M) {
	switch os.Getenv(receiverEnv) {
	case "1":
		runReceiver()
		return
	case "relay":
		runRelay()
		return
	}
	os.Exit(m.Run())
}

// runReceiver is the relay's side: a tunnel endpoint whose ingest parses each batch (the
// whole body, so every record is checked to be JSON), applies a batch id once, and
// counts. It does no more, as it shares this machine's two cores with the agent: the
// figure is the agent's. GET /count answers the records received.
func runReceiver() {
	var rows atomic.Int64
	var mu sync.Mutex
	seen := map[string]bool{}
	ingest := http.NewServeMux()
	ingest.HandleFunc("POST "+wire.PathBatches, func(w http.ResponseWriter, r *http.Request) {
		var b wire.Batch
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil || b.BatchID == "" {
			http.Error(w, fmt.Sprintf("batch: %v", err), http.StatusBadRequest)
			return
		}
		mu.Lock()
		dup := seen[b.BatchID]
		seen[b.BatchID] = true
		mu.Unlock()
		if !dup {
			rows.Add(int64(len(b.Records)))
		}
		json.NewEncoder(w).Encode(wire.BatchAck{BatchID: b.BatchID, Duplicate: dup, Records: len(b.Records)})
	})
	ingest.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})
	ep := tunnel.NewEndpoint(tunnel.EndpointConfig{Auth: anyAgent{}, Handler: ingest, Logger: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.Handle(tunnel.TunnelPath, ep)
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, rows.Load()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	go func() {
		io.Copy(io.Discard, os.Stdin) // the parent closing stdin ends the child
		os.Exit(0)
	}()
	(&http.Server{Handler: mux}).Serve(ln)
}

// runRelay is the whole relay as the receiving side: its SQLite store in a temp dir,
// a connection enrolled for the agent, ingest into the store. It prints its address and
// the agent's credential; GET /count answers the records the relay stored, from its
// metrics.
func runRelay() {
	ctx := context.Background()
	relay.TuneRuntime()
	// PLANTBRIDGE_SYNCBENCH_RELAY_CPUPROFILE names a file for the relay's CPU profile.
	if path := os.Getenv("PLANTBRIDGE_SYNCBENCH_RELAY_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	dir, err := os.MkdirTemp("", "syncbench-relay-")
	if err != nil {
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	cfg := relay.DefaultConfig()
	cfg.DataDir = dir
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	st, err := relay.OpenStore(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	acct, _ := st.CreateAccount(ctx, "bench")
	conn, _ := st.CreateConnection(ctx, acct.ID, store.NewConnection{Name: "plant", System: "maximo"})
	_, token, _ := st.CreateEnrollmentToken(ctx, acct.ID, conn.ID, time.Hour)
	cred, err := st.RedeemEnrollmentToken(ctx, token)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err := relay.NewWithStore(cfg, st, log, relay.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	addr := ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			fmt.Fprint(w, 0)
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), `plantbridge_relay_ingest_records_total{model="work_orders"} `); ok {
				f, _ := strconv.ParseFloat(rest, 64)
				fmt.Fprint(w, int64(f))
				return
			}
		}
		fmt.Fprint(w, 0)
	})
	fmt.Println(addr, cred.AgentID, cred.Secret, cred.ConnectionID)
	runCtx, cancel := context.WithCancel(ctx)
	go func() {
		io.Copy(io.Discard, os.Stdin) // the parent closing stdin ends the child
		cancel()
	}()
	hs := &http.Server{Handler: mux}
	go func() { <-runCtx.Done(); hs.Close() }()
	hs.Serve(ln)
	st.Close()
}

type anyAgent struct{}

func (anyAgent) AuthenticateAgent(context.Context, string, string) error { return nil }

// receiver is the running child, and the credential the agent uses with it.
type receiver struct {
	addr  string
	stdin io.Closer
	cmd   *exec.Cmd
	// agentID, secret and connID identify the agent to a relay receiver.
	agentID, secret, connID string
}

// startReceiver starts the receiving side: kind "1" parses batches only, "relay" is
// the whole relay storing them.
func startReceiver(b *testing.B, kind string) *receiver {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), receiverEnv+"="+kind)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("receiver: %v", err)
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		b.Fatalf("receiver printed %q", line)
	}
	r := &receiver{addr: f[0], stdin: stdin, cmd: cmd, agentID: "plant-bench", secret: "bench-secret", connID: "conn_bench"}
	if len(f) == 4 {
		r.agentID, r.secret, r.connID = f[1], f[2], f[3]
	}
	b.Cleanup(func() {
		r.stdin.Close()
		r.cmd.Wait()
	})
	return r
}

func (r *receiver) count() int64 {
	resp, err := http.Get("http://" + r.addr + "/count")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n, _ := strconv.ParseInt(string(b), 10, 64)
	return n
}

// plantDB returns a Maximo demo database with rows work orders, made once into a
// cache directory under os.TempDir keyed by the row count.
func plantDB(b *testing.B, rows int) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "plantbridge-bench")
	path := filepath.Join(dir, fmt.Sprintf("demodb-maximo-%d.db", rows))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	os.MkdirAll(dir, 0o755)
	tmp := path + ".tmp"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(tmp + suffix)
	}
	ctx := context.Background()
	db, err := demodb.Open(ctx, "sqlite", tmp)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	err = demodb.CreateAt(ctx, db, "maximo", rows, 1, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), slog.New(slog.DiscardHandler))
	db.Close()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("made the demo database of %d work orders in %v", rows, time.Since(start).Round(time.Second))
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss returns this process's resident memory and the anonymous part of it (what the
// process allocated, without the pages of files it maps, which the kernel can drop).
func rss() (total, anon uint64) {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			total = kb << 10
		case "RssAnon":
			anon = kb << 10
		}
	}
	return total, anon
}

// peaks samples this process's RSS and heap until stop is called.
type peaks struct {
	rss, anon, heap atomic.Uint64
	stop            chan struct{}
	done            chan struct{}
}

func samplePeaks() *peaks {
	p := &peaks{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			p.heap.Store(max(p.heap.Load(), ms.HeapInuse))
			r, a := rss()
			p.rss.Store(max(p.rss.Load(), r))
			p.anon.Store(max(p.anon.Load(), a))
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peaks) end() (rssMiB, anonMiB, heapMiB float64) {
	close(p.stop)
	<-p.done
	return float64(p.rss.Load()) / (1 << 20), float64(p.anon.Load()) / (1 << 20), float64(p.heap.Load()) / (1 << 20)
}

// BenchmarkInitialSync syncs every work order of a Maximo demo database (1,000,000;
// 100,000 with -short; PLANTBRIDGE_BENCH_ROWS to choose) from SQLite through the
// agent's scheduler, outbox, uploader and tunnel to a receiver in another process, with
// the agent's own GC settings. It reports the end-to-end rows/s next to the connector's
// read+map rate over the same file in the same run, the agent process's CPU time per
// row, its peak RSS and heap, and the outbox's peak backlog. Targets: 50,000 rows/s end
// to end, 150 MiB RSS.
func BenchmarkInitialSync(b *testing.B) {
	// receiver=parse isolates the agent; receiver=relay is the whole path into the
	// relay's SQLite store, both on this machine's two cores.
	b.Run("receiver=parse", func(b *testing.B) { benchInitialSync(b, "1") })
	b.Run("receiver=relay", func(b *testing.B) { benchInitialSync(b, "relay") })
}

func benchInitialSync(b *testing.B, kind string) {
	rows := 1_000_000
	if testing.Short() {
		rows = 100_000
	}
	if v := os.Getenv("PLANTBRIDGE_BENCH_ROWS"); v != "" {
		rows, _ = strconv.Atoi(v)
	}
	path := plantDB(b, rows)
	agent.TuneRuntime()
	ctx := context.Background()

	// The ceiling: the connector alone, reading and mapping into nothing.
	c, err := connectors.Open(ctx, connectors.Config{ConnectionID: "conn_bench", System: "maximo", Driver: "sqlite", DSN: path})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	read := 0
	if err := c.Read(ctx, connectors.ReadRequest{Model: "work_orders"}, func(bt connectors.Batch) error {
		read += len(bt.Records)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	readRate := float64(read) / time.Since(start).Seconds()
	c.Close()
	if read != rows {
		b.Fatalf("connector read %d work orders, want %d", read, rows)
	}

	recv := startReceiver(b, kind)
	var synced, cpu time.Duration
	var peakRSS, peakAnon, peakHeap float64
	var peakBuffer int64
	for b.Loop() {
		// A fresh state directory: an initial sync, nothing buffered.
		off := time.Duration(0)
		cfg := agent.Config{Version: 1, StateDir: filepath.Join(b.TempDir(), "state"),
			Relay:      agent.RelayConfig{URL: "ws://" + recv.addr},
			Agent:      agent.IdentityConfig{ID: recv.agentID, Secret: recv.secret, ConnectionID: recv.connID},
			Connection: &agent.ConnectionConfig{System: "maximo", Driver: "sqlite", DSN: path},
			Sync:       agent.SyncConfig{Models: []string{"work_orders"}, Interval: time.Hour, FullInterval: &off}}
		a, err := agent.New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			b.Fatal(err)
		}
		before := recv.count()
		runtime.GC()
		p := samplePeaks()
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		start, cpu0 := time.Now(), cpuTime()
		go func() { done <- a.Run(rctx) }()
		for recv.count()-before < int64(rows) {
			time.Sleep(20 * time.Millisecond) // polling interval of the receiver's count
			peakBuffer = max(peakBuffer, a.Status().Buffer.Bytes)
		}
		synced += time.Since(start)
		cpu += cpuTime() - cpu0
		r, an, h := p.end()
		peakRSS, peakAnon, peakHeap = max(peakRSS, r), max(peakAnon, an), max(peakHeap, h)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	e2e := float64(b.N*rows) / synced.Seconds()
	b.ReportMetric(e2e, "e2e_rows/s")
	b.ReportMetric(readRate, "read+map_rows/s")
	b.ReportMetric(e2e/readRate*100, "%_of_read")
	b.ReportMetric(peakRSS, "peak_rss_MiB")
	b.ReportMetric(peakAnon, "peak_rss_anon_MiB")
	b.ReportMetric(peakHeap, "peak_heap_MiB")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*rows), "agent_cpu_µs/row")
	b.ReportMetric(float64(peakBuffer)/(1<<20), "peak_outbox_MiB")
}

// BenchmarkDrainBacklog measures how fast the agent empties a backlog after the relay
// returns: it syncs every work order of the demo database (as BenchmarkInitialSync)
// while the relay is unreachable, so that they all wait in the outbox (compressed, as
// a backlog is), then restarts the agent pointed at the receiver and times the drain.
func BenchmarkDrainBacklog(b *testing.B) {
	rows := 1_000_000
	if testing.Short() {
		rows = 100_000
	}
	if v := os.Getenv("PLANTBRIDGE_BENCH_ROWS"); v != "" {
		rows, _ = strconv.Atoi(v)
	}
	path := plantDB(b, rows)
	agent.TuneRuntime()
	recv := startReceiver(b, "1")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var drained time.Duration
	var backlog int64
	for b.Loop() {
		off := time.Duration(0)
		cfg := agent.Config{Version: 1, StateDir: filepath.Join(b.TempDir(), "state"),
			// Nothing listens on port 1: the relay is away.
			Relay:      agent.RelayConfig{URL: "ws://127.0.0.1:1"},
			Agent:      agent.IdentityConfig{ID: "plant-bench", Secret: "bench-secret", ConnectionID: "conn_bench"},
			Connection: &agent.ConnectionConfig{System: "maximo", Driver: "sqlite", DSN: path},
			Sync:       agent.SyncConfig{Models: []string{"work_orders"}, Interval: time.Hour, FullInterval: &off},
			Buffer:     agent.BufferConfig{MaxBytes: 4 << 30}}
		a, err := agent.New(cfg, log)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		for {
			st := a.Status()
			if len(st.Models) == 1 && st.Models[0].Status == wire.SyncDone {
				backlog = st.Buffer.Bytes
				break
			}
			time.Sleep(50 * time.Millisecond) // polling interval of the agent's status
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}

		cfg.Relay.URL = "ws://" + recv.addr
		a, err = agent.New(cfg, log)
		if err != nil {
			b.Fatal(err)
		}
		before := recv.count()
		ctx, cancel = context.WithCancel(context.Background())
		start := time.Now()
		go func() { done <- a.Run(ctx) }()
		for recv.count()-before < int64(rows) {
			time.Sleep(20 * time.Millisecond) // polling interval of the receiver's count
		}
		drained += time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*rows)/drained.Seconds(), "drain_rows/s")
	b.ReportMetric(float64(backlog)/(1<<20), "backlog_MiB")
	b.ReportMetric(float64(backlog)/float64(rows), "bytes/row_buffered")
}

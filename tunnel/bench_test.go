package tunnel

// Benchmarks for `make bench`. Each one does a fixed amount of work (run them with
// -benchtime 1x) and reports its figure next to a baseline measured in the same run, as
// a ratio, because the machines they run on are shared and noisy.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	benchSingleBytes   = 512 << 20 // one stream
	benchParallelBytes = 128 << 20 // each of 8 streams
)

// benchPayload is what bulk transfers send, repeated.
var benchPayload = func() []byte {
	b := make([]byte, 256<<10)
	newPattern(1, int64(len(b))).Read(b)
	return b
}()

func writeN(w io.Writer, n int64) error {
	for n > 0 {
		chunk := benchPayload
		if int64(len(chunk)) > n {
			chunk = chunk[:n]
		}
		m, err := w.Write(chunk)
		if err != nil {
			return err
		}
		n -= int64(m)
	}
	return nil
}

// tcpThroughput measures raw loopback TCP: streams connections each sending n bytes.
func tcpThroughput(b *testing.B, streams int, n int64) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				writeN(c, n)
			}()
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			if got, _ := io.Copy(io.Discard, c); got != n {
				b.Errorf("tcp: got %d of %d bytes", got, n)
			}
		}()
	}
	wg.Wait()
	return float64(int64(streams)*n) / time.Since(start).Seconds() / (1 << 20)
}

// benchTunnel is a relay endpoint and one connected agent, the agent serving GET /bulk?n=
// and GET /small.
type benchTunnel struct {
	relay *Endpoint
	agent *Client
	url   string
	stop  func()
}

func agentBenchHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/bulk", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		writeN(w, n)
	})
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"records":[{"id":"wo_1","status":"open"}]}`)
	})
	return mux
}

func startBenchTunnel(b *testing.B, useTLS bool) *benchTunnel {
	log := logDiscard()
	ep := NewEndpoint(EndpointConfig{Auth: staticAuth{"bench": "x"}, Logger: log})
	var srv *httptest.Server
	dcfg := DialerConfig{}
	if useTLS {
		srv = httptest.NewUnstartedServer(ep)
		srv.Config.ErrorLog = nil
		srv.StartTLS()
		dcfg.RelayURL = "wss://" + srv.Listener.Addr().String()
		caFile := b.TempDir() + "/ca.pem"
		os.WriteFile(caFile, certPEM(srv.TLS.Certificates[0]), 0o600)
		dcfg.CAFile = caFile
	} else {
		srv = httptest.NewServer(ep)
		dcfg.RelayURL = "ws://" + srv.Listener.Addr().String()
	}
	c, err := NewClient(ClientConfig{Dialer: dcfg, Hello: Hello{AgentID: "bench", Secret: "x"},
		Handler: agentBenchHandler(), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	waitFor(b, 10*time.Second, "bench agent", func() bool { _, err := ep.Session("bench"); return err == nil })
	return &benchTunnel{relay: ep, agent: c, url: dcfg.RelayURL, stop: func() {
		cancel()
		<-done
		ep.Close()
		srv.Close()
	}}
}

// tunnelThroughput has the relay fetch n bytes from the agent on each of streams streams.
func (bt *benchTunnel) throughput(b *testing.B, streams int, n int64) float64 {
	s, err := bt.relay.Session("bench")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.Client().Get(fmt.Sprintf("http://agent/bulk?n=%d", n))
			if err != nil {
				b.Error(err)
				return
			}
			defer resp.Body.Close()
			if got, _ := io.Copy(io.Discard, resp.Body); got != n {
				b.Errorf("tunnel: got %d of %d bytes", got, n)
			}
		}()
	}
	wg.Wait()
	return float64(int64(streams)*n) / time.Since(start).Seconds() / (1 << 20)
}

// BenchmarkTunnelThroughput: bulk transfer relay⇐agent through the tunnel (plain ws and
// TLS), one stream and 8 in parallel, against raw loopback TCP with as many connections.
// Target: ≥ 45% of raw TCP.
func BenchmarkTunnelThroughput(b *testing.B) {
	for _, tc := range []struct {
		name    string
		tls     bool
		streams int
		n       int64
	}{
		{"ws/1-stream", false, 1, benchSingleBytes},
		{"wss/1-stream", true, 1, benchSingleBytes},
		{"ws/8-streams", false, 8, benchParallelBytes},
		{"wss/8-streams", true, 8, benchParallelBytes},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bt := startBenchTunnel(b, tc.tls)
			defer bt.stop()
			bt.throughput(b, tc.streams, 8<<20) // warm up: windows open, buffers allocated
			tcp := tcpThroughput(b, tc.streams, tc.n)
			tun := bt.throughput(b, tc.streams, tc.n)
			b.ReportMetric(tcp, "MiB/s-raw-tcp")
			b.ReportMetric(tun, "MiB/s-tunnel")
			b.ReportMetric(tun/tcp*100, "%-of-tcp")
		})
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	i := int(float64(len(d)-1) * p)
	return d[i]
}

// latencies runs total requests from conc goroutines and returns each duration.
func latencies(b *testing.B, c *http.Client, url string, conc, total int) []time.Duration {
	out := make([]time.Duration, total)
	var wg sync.WaitGroup
	per := total / conc
	for g := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				t0 := time.Now()
				resp, err := c.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				out[g*per+i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	return out[:per*conc]
}

// BenchmarkTunnelRoundTrip: a small request relay → agent handler → back, at 1 and 64
// concurrent callers, against the same handler over direct loopback HTTP. Target: p99
// overhead ≤ 1 ms at 64 concurrent.
func BenchmarkTunnelRoundTrip(b *testing.B) {
	bt := startBenchTunnel(b, false)
	defer bt.stop()
	direct := httptest.NewServer(agentBenchHandler())
	defer direct.Close()
	directClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	s, err := bt.relay.Session("bench")
	if err != nil {
		b.Fatal(err)
	}
	for _, conc := range []int{1, 64} {
		b.Run(fmt.Sprintf("concurrency-%d", conc), func(b *testing.B) {
			total := 5000
			if conc > 1 {
				total = 64 * 300
			}
			latencies(b, directClient, direct.URL+"/small", conc, total/10) // warm up both
			latencies(b, s.Client(), "http://agent/small", conc, total/10)
			d := latencies(b, directClient, direct.URL+"/small", conc, total)
			t := latencies(b, s.Client(), "http://agent/small", conc, total)
			ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
			b.ReportMetric(ms(percentile(d, 0.50)), "ms-p50-direct")
			b.ReportMetric(ms(percentile(t, 0.50)), "ms-p50-tunnel")
			b.ReportMetric(ms(percentile(d, 0.99)), "ms-p99-direct")
			b.ReportMetric(ms(percentile(t, 0.99)), "ms-p99-tunnel")
			b.ReportMetric(ms(percentile(t, 0.99)-percentile(d, 0.99)), "ms-p99-overhead")
		})
	}
}

// relayChildEnv makes the test binary act as a bare relay, for measuring the relay's
// memory without the agents' (see BenchmarkRelayIdleAgentMemory).
const relayChildEnv = "PLANTBRIDGE_BENCH_RELAY_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(relayChildEnv) == "1" {
		runRelayChild()
		return
	}
	os.Exit(m.Run())
}

// memReport is the relay child's memory after a GC.
type memReport struct {
	Sessions   int    `json:"sessions"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	RSS        uint64 `json:"rss"`
	Goroutines int    `json:"goroutines"`
}

func runRelayChild() {
	ep := NewEndpoint(EndpointConfig{Auth: anyAgent{}, Logger: logDiscard()})
	mux := http.NewServeMux()
	mux.Handle(TunnelPath, ep)
	mux.HandleFunc("/mem", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		json.NewEncoder(w).Encode(memReport{Sessions: len(ep.Sessions()), HeapInuse: ms.HeapInuse,
			StackInuse: ms.StackInuse, RSS: rss(), Goroutines: runtime.NumGoroutine()})
	})
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

type anyAgent struct{}

func (anyAgent) AuthenticateAgent(context.Context, string, string) error { return nil }

func rss() uint64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkRelayIdleAgentMemory connects 1,000 agents (simulated in this process) to a
// relay running in a child process, and reports the relay's memory growth per idle
// agent: heap and stacks in use after GC, and RSS. Target: ≤ 64 KiB per agent.
func BenchmarkRelayIdleAgentMemory(b *testing.B) {
	const agents = 1000
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), relayChildEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	addr = strings.TrimSpace(addr)
	mem := func() memReport {
		resp, err := http.Get("http://" + addr + "/mem")
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var m memReport
		json.NewDecoder(resp.Body).Decode(&m)
		return m
	}
	before := mem()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range agents {
		c, err := NewClient(ClientConfig{Dialer: DialerConfig{RelayURL: "ws://" + addr},
			Hello: Hello{AgentID: fmt.Sprintf("agent-%d", i), Secret: "x"}, Logger: logDiscard()})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	var after memReport
	waitFor(b, 60*time.Second, "1,000 agents connected", func() bool { after = mem(); return after.Sessions == agents })
	// Let the first keepalive round settle before measuring.
	time.Sleep(2 * time.Second)
	after = mem()
	per := func(a, b uint64) float64 { return float64(int64(a)-int64(b)) / agents / 1024 }
	b.ReportMetric(per(after.HeapInuse+after.StackInuse, before.HeapInuse+before.StackInuse), "KiB/agent-heap+stack")
	b.ReportMetric(per(after.RSS, before.RSS), "KiB/agent-rss")
	b.ReportMetric(float64(after.Goroutines-before.Goroutines)/agents, "goroutines/agent")
}

func certPEM(c tls.Certificate) []byte {
	var out []byte
	for _, der := range c.Certificate {
		out = append(out, pemEncode(der)...)
	}
	return out
}

func pemEncode(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func logDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

package tunnel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/internal/logtest"
)

// connPair returns two connected net.Conns: the agent's end and the relay's end.
type connPair func(t *testing.T) (agent, relay net.Conn)

// connTypes are the transports a session is tested over, like yamux's testConnTypes.
// The product always uses the websocket; the others show that the session logic does not
// depend on it.
var connTypes = []struct {
	name string
	pair connPair
}{
	{"pipe", pipePair},
	{"tcp", tcpPair},
	{"tls", tlsPair},
	{"websocket", wsPair},
}

func pipePair(t *testing.T) (net.Conn, net.Conn) {
	a, b := net.Pipe()
	return a, b
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	return a, b
}

func tlsPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS() // for its certificate
	cert := srv.TLS.Certificates[0]
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	srv.Close()
	a, b := tcpPair(t)
	ca := tls.Client(a, &tls.Config{RootCAs: pool, ServerName: "example.com"})
	cb := tls.Server(b, &tls.Config{Certificates: []tls.Certificate{cert}})
	errc := make(chan error, 1)
	go func() { errc <- cb.Handshake() }()
	if err := ca.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return ca, cb
}

func wsPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	relayEnd := make(chan net.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			t.Error(err)
			return
		}
		relayEnd <- newWSConn(ws, localAddr(r), addr(r.RemoteAddr), DefaultMuxConfig().readLimit())
	}))
	t.Cleanup(srv.Close)
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := newWSConn(ws, addr("agent"), addr(srv.Listener.Addr().String()), DefaultMuxConfig().readLimit())
	return a, <-relayEnd
}

// sessionPair starts an agent and a relay session over pair, each serving handler h
// (which may be nil to leave the streams to the test), and closes both at cleanup.
func sessionPair(t *testing.T, pair connPair, cfg MuxConfig, agentH, relayH http.Handler) (agent, relay *Session) {
	t.Helper()
	log := logtest.New(t)
	ac, rc := pair(t)
	var err error
	if agent, err = newSession(ac, cfg, true, log.With("side", "agent")); err != nil {
		t.Fatal(err)
	}
	if relay, err = newSession(rc, cfg, false, log.With("side", "relay")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, x := range []struct {
		s *Session
		h http.Handler
	}{{agent, agentH}, {relay, relayH}} {
		if x.h != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				x.s.Serve(x.h)
			}()
		}
	}
	t.Cleanup(func() {
		agent.Close()
		relay.Close()
		wg.Wait()
	})
	return agent, relay
}

func nameHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Served-By", name)
		fmt.Fprintf(w, "%s:%s:%s", name, r.URL.Path, body)
	})
}

func post(t testing.TB, c *http.Client, path, body string) string {
	t.Helper()
	resp, err := c.Post("http://peer"+path, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

func TestSessionHTTPBothWays(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			leaktest.Check(t)
			agent, relay := sessionPair(t, ct.pair, MuxConfig{}, nameHandler("agent"), nameHandler("relay"))
			if got := post(t, relay.Client(), "/v1/sync", "x"); got != "agent:/v1/sync:x" {
				t.Errorf("relay→agent = %q", got)
			}
			if got := post(t, agent.Client(), "/v1/batches", "y"); got != "relay:/v1/batches:y" {
				t.Errorf("agent→relay = %q", got)
			}
			// Concurrent HTTP exchanges each way. Kept to 100 so the race detector's
			// goroutine limit is not reached; raw streams are tested at 1,000 below.
			var wg sync.WaitGroup
			errs := make(chan error, 200)
			for i := range 100 {
				for _, dir := range []struct {
					c    *http.Client
					want string
				}{{relay.Client(), "agent"}, {agent.Client(), "relay"}} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						body := fmt.Sprint(i)
						resp, err := dir.c.Post("http://peer/p", "text/plain", strings.NewReader(body))
						if err != nil {
							errs <- err
							return
						}
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if want := dir.want + ":/p:" + body; string(b) != want {
							errs <- fmt.Errorf("got %q want %q", b, want)
						}
					}()
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestSessionConcurrentStreams opens 1,000 streams each way at the same time, each
// echoing its own payload.
func TestSessionConcurrentStreams(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			leaktest.Check(t)
			agent, relay := sessionPair(t, ct.pair, MuxConfig{}, nil, nil)
			const n = 1000
			var wg sync.WaitGroup
			errs := make(chan error, 4*n)
			for _, s := range []*Session{agent, relay} {
				wg.Add(1)
				go func() { // echo server
					defer wg.Done()
					for range n {
						st, err := s.mux.AcceptStream()
						if err != nil {
							errs <- err
							return
						}
						wg.Add(1)
						go func() {
							defer wg.Done()
							defer st.Close()
							if _, err := io.Copy(st, st); err != nil {
								errs <- err
							}
						}()
					}
				}()
			}
			start := make(chan struct{})
			for _, s := range []*Session{agent, relay} {
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						st, err := s.mux.OpenStream()
						if err != nil {
							errs <- err
							return
						}
						defer st.Close()
						msg := bytes.Repeat([]byte{byte(i)}, 1000+i)
						go func() {
							st.Write(msg)
							st.Close() // half-close: yamux keeps the read side open
						}()
						got, err := io.ReadAll(st)
						if err != nil {
							errs <- err
							return
						}
						if !bytes.Equal(got, msg) {
							errs <- fmt.Errorf("stream %d: echo of %d bytes came back as %d", i, len(msg), len(got))
						}
					}()
				}
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// patternReader yields a reproducible pseudo-random byte stream.
type patternReader struct {
	r *rand.ChaCha8
	n int64
}

func newPattern(seed byte, n int64) *patternReader {
	var s [32]byte
	s[0] = seed
	return &patternReader{r: rand.NewChaCha8(s), n: n}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	p.r.Read(b)
	p.n -= int64(len(b))
	return len(b), nil
}

func hashOf(r io.Reader) ([]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return h.Sum(nil), n, err
}

// TestSessionBulkTransfer sends 256 MiB over the websocket session (64 MiB over the
// other transports) and checks every byte.
func TestSessionBulkTransfer(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			leaktest.Check(t)
			size := int64(64 << 20)
			if ct.name == "websocket" {
				size = 256 << 20
			}
			if testing.Short() {
				size = 16 << 20
			}
			want, _, _ := hashOf(newPattern(7, size))
			agent, relay := sessionPair(t, ct.pair, MuxConfig{}, nil, nil)
			type result struct {
				sum []byte
				n   int64
				err error
			}
			res := make(chan result, 1)
			go func() {
				st, err := relay.mux.AcceptStream()
				if err != nil {
					res <- result{err: err}
					return
				}
				defer st.Close()
				sum, n, err := hashOf(st)
				res <- result{sum, n, err}
			}()
			st, err := agent.mux.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(st, newPattern(7, size)); err != nil {
				t.Fatal(err)
			}
			st.Close()
			r := <-res
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.n != size || !bytes.Equal(r.sum, want) {
				t.Fatalf("received %d bytes with sha256 %x, sent %d with %x", r.n, r.sum, size, want)
			}
		})
	}
}

// TestSessionBackPressure checks that a reader that does not read stops the writer once
// the stream window is full, so nothing buffers without bound.
func TestSessionBackPressure(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			leaktest.Check(t)
			cfg := MuxConfig{StreamWindow: 1 << 20}
			agent, relay := sessionPair(t, ct.pair, cfg, nil, nil)
			accepted := make(chan net.Conn, 1)
			go func() {
				st, err := relay.mux.AcceptStream()
				if err == nil {
					accepted <- st
				}
			}()
			st, err := agent.mux.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			heapBefore := ms.HeapInuse
			chunk := make([]byte, 64<<10)
			var written int64
			for {
				st.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
				n, err := st.Write(chunk)
				written += int64(n)
				if err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) && !isTimeout(err) {
						t.Fatalf("write: %v", err)
					}
					break
				}
				if written > 64<<20 {
					t.Fatalf("wrote %d bytes to a stream nobody reads: no back-pressure", written)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if written > int64(cfg.StreamWindow)+int64(len(chunk)) {
				t.Errorf("writer got %d bytes ahead of a stalled reader; window is %d", written, cfg.StreamWindow)
			}
			if grew := int64(ms.HeapInuse) - int64(heapBefore); grew > 16<<20 {
				t.Errorf("heap grew by %d bytes behind a stalled reader", grew)
			}
			// Once the reader reads, everything arrives.
			rst := <-accepted
			defer rst.Close()
			st.SetWriteDeadline(time.Time{})
			go func() {
				st.Write(chunk)
				st.Close()
			}()
			n, err := io.Copy(io.Discard, rst)
			if err != nil {
				t.Fatal(err)
			}
			if n != written+int64(len(chunk)) {
				t.Errorf("reader got %d bytes, writer sent %d", n, written+int64(len(chunk)))
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

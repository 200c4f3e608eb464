package tunnel

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plantbridge/plantbridge/internal/logtest"
)

// TestClientReconnectPacing runs the reconnect loop against a relay that is never there,
// in a bubble with a fake clock: ten minutes pass in no time, and the attempts must
// follow the backoff (no tight loop, never more than the cap apart).
func TestClientReconnectPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := NewClient(ClientConfig{Dialer: DialerConfig{RelayURL: "wss://relay.invalid"},
			Hello: Hello{AgentID: "agent-1", Secret: "s"}, Logger: logtest.New(t)})
		if err != nil {
			t.Fatal(err)
		}
		var attempts []time.Time
		c.connect = func(ctx context.Context) (*Session, error) {
			attempts = append(attempts, time.Now())
			return nil, &DialError{Step: "connect to relay", Err: errors.New("no such host")}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		c.Run(ctx)
		if d := time.Since(start); d != 10*time.Minute {
			t.Fatalf("Run returned after %v, want at its context's end", d)
		}
		// 10 minutes with delays growing to a 60 s cap (at least 6 s each with jitter):
		// a handful of quick attempts, then about one a minute.
		if n := len(attempts); n < 10 || n > 110 {
			t.Fatalf("%d attempts in 10 minutes", n)
		}
		for i := 1; i < len(attempts); i++ {
			gap := attempts[i].Sub(attempts[i-1])
			ceiling := min(time.Second<<(i-1), 60*time.Second)
			if gap < ceiling/10 || gap > ceiling {
				t.Errorf("attempt %d came %v after the previous one; want within [%v, %v]", i+1, gap, ceiling/10, ceiling)
			}
		}
		if st := c.Status(); st.Connected || st.FailedAttempts != len(attempts) || st.LastError == "" {
			t.Errorf("status %+v after %d failures", st, len(attempts))
		}
	})
}

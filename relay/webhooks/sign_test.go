package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/relay/store"
)

// The specification's example: secret, message and signature as its
// libraries' tests have them.
func TestSignKnownAnswer(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		body   = `{"test": 2432232314}`
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	got, err := Sign(id, time.Unix(1614265330, 0), []byte(body), []string{secret})
	if err != nil || got != want {
		t.Fatalf("Sign = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []struct {
		id      string
		secrets []string
	}{
		{"msg.with.dots", []string{secret}},
		{"", []string{secret}},
		{id, nil},
		{id, []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		{id, []string{"whsec_c2hvcnQ="}},
		{id, []string{"whsec_not base64!"}},
	} {
		if _, err := Sign(bad.id, time.Now(), []byte(body), bad.secrets); err == nil {
			t.Errorf("Sign(%q, %q) succeeded", bad.id, bad.secrets)
		}
	}
}

// TestSignatureInterop delivers real events, during a secret rotation, to a
// receiver that verifies them with the specification's Go library, and
// checks that a tampered body and a stale timestamp fail.
func TestSignatureInterop(t *testing.T) {
	leaktest.Check(t)
	ctx := context.Background()
	st := tempStore(t)
	f := newFixture(t, st, "acme")
	rc := newReceiver(t)
	ep := createEndpoint(t, st, f.acct.ID, store.NewWebhookEndpoint{URL: rc.srv.URL + "/hooks"})
	oldSecret := ep.Secrets[0].Secret
	svc := start(t, st, testOptions(t))

	emit := func(typ string, data any) string {
		t.Helper()
		id, err := svc.Emit(ctx, Event{AccountID: f.acct.ID, Type: typ, ConnectionID: f.conn.ID, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := emit(EventSyncCompleted, SyncCompletedData{Model: "work_orders", RecordsSynced: 7})
	waitFor(t, 10*time.Second, "the first delivery", func() bool { return len(rc.requests()) == 1 })

	rotated, err := st.RotateWebhookSecret(ctx, f.acct.ID, ep.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	newSecret := rotated.Secrets[0].Secret
	second := emit(EventConnectionStatusChanged, ConnectionStatusChangedData{From: StatusOnline, To: StatusOffline})
	waitFor(t, 10*time.Second, "the second delivery", func() bool { return len(rc.requests()) == 2 })

	got := rc.requests()
	verifier := func(secret string) *standardwebhooks.Webhook {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		return wh
	}
	oldWH, newWH := verifier(oldSecret), verifier(newSecret)
	if err := oldWH.Verify(got[0].body, got[0].header); err != nil {
		t.Errorf("before rotation: %v", err)
	}
	if err := newWH.Verify(got[0].body, got[0].header); err == nil {
		t.Error("the new secret verified a message sent before it existed")
	}
	if n := len(strings.Fields(got[1].signature)); n != 2 {
		t.Errorf("during the overlap: %d signatures, want 2: %q", n, got[1].signature)
	}
	for name, wh := range map[string]*standardwebhooks.Webhook{"old": oldWH, "new": newWH} {
		if err := wh.Verify(got[1].body, got[1].header); err != nil {
			t.Errorf("during the overlap, the %s secret: %v", name, err)
		}
	}
	for i, want := range []string{first, second} {
		m := decodeMessage(t, got[i].body)
		if got[i].id != want || m.ID != want || m.ConnectionID == nil || *m.ConnectionID != f.conn.ID {
			t.Errorf("request %d: webhook-id %q, message %+v; want id %s", i, got[i].id, m, want)
		}
		if got[i].header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", got[i].header.Get("Content-Type"))
		}
	}

	tampered := bytes.Replace(got[1].body, []byte(`"offline"`), []byte(`"online"`), 1)
	if err := newWH.Verify(tampered, got[1].header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("tampered body: %v", err)
	}
	// A message signed 10 minutes ago: past the library's 5-minute
	// tolerance for replays.
	stale := http.Header{}
	if err := setSignedHeaders(stale, second, time.Now().Add(-10*time.Minute), got[1].body, []string{newSecret}); err != nil {
		t.Fatal(err)
	}
	if err := newWH.Verify(got[1].body, stale); !errors.Is(err, standardwebhooks.ErrMessageTooOld) {
		t.Errorf("stale timestamp: %v", err)
	}
	if err := newWH.VerifyIgnoringTimestamp(got[1].body, stale); err != nil {
		t.Errorf("stale message, timestamp ignored: %v", err)
	}

	// The same requests through the specification's TypeScript library,
	// when Node.js and the package are installed.
	type nodeCase struct {
		Secret  string            `json:"secret"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	hdr := func(h http.Header) map[string]string {
		return map[string]string{HeaderID: h.Get(HeaderID), HeaderTimestamp: h.Get(HeaderTimestamp), HeaderSignature: h.Get(HeaderSignature)}
	}
	results := verifyWithNode(t, []nodeCase{
		{oldSecret, hdr(got[0].header), string(got[0].body)},
		{oldSecret, hdr(got[1].header), string(got[1].body)},
		{newSecret, hdr(got[1].header), string(got[1].body)},
		{newSecret, hdr(got[1].header), string(tampered)},
		{newSecret, hdr(stale), string(got[1].body)},
		{newSecret, hdr(got[0].header), string(got[0].body)},
	})
	if results != nil {
		want := []bool{true, true, true, false, false, false}
		for i, r := range results {
			if (r == "ok") != want[i] {
				t.Errorf("node case %d: %q, want ok=%v", i, r, want[i])
			}
		}
	}
}

// verifyWithNode runs testdata/node/verify.js on the cases; nil when
// Node.js or the package is not installed (npm ci --prefix
// relay/webhooks/testdata/node installs it).
func verifyWithNode(t *testing.T, cases any) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	dir := filepath.Join("testdata", "node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Node.js standardwebhooks is required under CI: %v (npm ci --prefix relay/webhooks/testdata/node)", err)
		}
		t.Logf("not verifying with Node.js standardwebhooks: %v (npm ci --prefix relay/webhooks/testdata/node)", err)
		return nil
	}
	in, _ := json.Marshal(cases)
	cmd := exec.Command(node, "verify.js")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node verify.js: %v", err)
	}
	var results []string
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("node verify.js output %q: %v", out, err)
	}
	t.Logf("Node.js standardwebhooks: %q", results)
	return results
}

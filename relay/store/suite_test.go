package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
)

// runSuite runs every behaviour test against one backend. Each test gets its
// own fresh database and runs in parallel with the others.
func runSuite(t *testing.T, b backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b backend)
	}{
		{"Migrations", testMigrations},
		{"APIKeys", testAPIKeys},
		{"Connections", testConnections},
		{"TenantIsolation", testTenantIsolation},
		{"Enrollment", testEnrollment},
		{"ConcurrentRedeem", testConcurrentRedeem},
		{"BatchIdempotency", testBatchIdempotency},
		{"EncodedBatch", testEncodedBatch},
		{"SoftDeletes", testSoftDeletes},
		{"ConcurrentApplyOrder", testConcurrentApplyOrder},
		{"RecordsClockBoundsWalk", testRecordsClockBoundsWalk},
		{"FullSyncDeletes", testFullSyncDeletes},
		{"PaginationWalk", testPaginationWalk},
		{"SyncState", testSyncState},
		{"ConnectionEvents", testConnectionEvents},
		{"Jobs", testJobs},
		{"JobClaimExactlyOnce", testJobClaimExactlyOnce},
		{"Idempotency", testIdempotency},
		{"WebhookFanOut", testWebhookFanOut},
		{"WebhookDeliveryLifecycle", testWebhookDeliveryLifecycle},
		{"WebhookClaimExactlyOnce", testWebhookClaimExactlyOnce},
		{"WebhookSecretRotation", testWebhookSecretRotation},
		{"WebhookClaimPerEndpoint", testWebhookClaimPerEndpoint},
		{"WebhookHealth", testWebhookHealth},
		{"WebhookRecordAttempts", testWebhookRecordAttempts},
		{"Prune", testPrune},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, b)
		})
	}
}

// newStore opens a store on a fresh database with a fake clock.
func newStore(t *testing.T, b backend) (Store, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	return b.open(t, b.fresh(t), Options{Now: clk.Now}), clk
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// fixture is an account with a connection.
type fixture struct {
	acct Account
	conn Connection
}

func newFixture(t *testing.T, s Store, name string) fixture {
	t.Helper()
	ctx := context.Background()
	a := must[Account](t)(s.CreateAccount(ctx, name))
	c := must[Connection](t)(s.CreateConnection(ctx, a.ID, NewConnection{
		Name: name + " plant", System: "maximo", Settings: json.RawMessage(`{"timezone":"Europe/Berlin"}`)}))
	return fixture{acct: a, conn: c}
}

// workOrder returns a work order record with native key n and a title.
func workOrder(connID string, n int, title string) model.Record {
	remote := fmt.Sprintf("BEDFORD/%07d", n)
	updated := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute)
	return model.Record{
		ID:              model.RecordID(connID, "work_orders", remote),
		RemoteID:        remote,
		RemoteUpdatedAt: &updated,
		Fields: map[string]any{
			"number":          fmt.Sprintf("%07d", n),
			"title":           title,
			"status":          "open",
			"remote_status":   "WAPPR",
			"priority":        "normal",
			"estimated_hours": "2.5",
		},
		CustomFields: map[string]any{"crew": "A"},
	}
}

func workOrders(connID string, from, n int, title string) []model.Record {
	out := make([]model.Record, n)
	for i := range out {
		out[i] = workOrder(connID, from+i, title)
	}
	return out
}

// walk pages through all records of q by cursor and returns them.
func walk(t *testing.T, s Store, q RecordQuery) []StoredRecord {
	t.Helper()
	var all []StoredRecord
	for {
		page, err := s.ListRecords(context.Background(), q)
		if err != nil {
			t.Fatalf("list records: %v", err)
		}
		all = append(all, page.Records...)
		if page.Next == nil {
			return all
		}
		q.After = page.Next
	}
}

func testMigrations(t *testing.T, b backend) {
	ctx := context.Background()
	loc := b.fresh(t)
	clk := newFakeClock()

	// A database left by a relay that knew only the first migration.
	old := b.open(t, loc, Options{Now: clk.Now, schemaVersion: 1}).(*sqlStore)
	if v, err := old.schemaVersion(ctx); err != nil || v != 1 {
		t.Fatalf("old schema version = %d, %v; want 1", v, err)
	}
	f := newFixture(t, old, "acme")
	must[BatchResult](t)(old.ApplyBatch(ctx, f.conn.ID, "b1", "work_orders", workOrders(f.conn.ID, 0, 3, "x"), ApplyOptions{}))
	if _, err := old.CreateJob(ctx, NewJob{AccountID: f.acct.ID, ConnectionID: f.conn.ID, Model: "work_orders", Op: "create", Total: 1}); err == nil {
		t.Fatal("jobs exist before migration 2")
	}
	old.Close()

	latest, err := loadMigrations(old.d.name)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second open finds nothing to do
		s := b.open(t, loc, Options{Now: clk.Now}).(*sqlStore)
		if v, err := s.schemaVersion(ctx); err != nil || v != len(latest) {
			t.Fatalf("open %d: schema version = %d, %v; want %d", i, v, err, len(latest))
		}
		var rows int
		if err := s.queryRow(ctx, s.r, `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != len(latest) {
			t.Fatalf("open %d: %d schema_migrations rows, %v", i, rows, err)
		}
		if got := must[Connection](t)(s.GetConnection(ctx, f.acct.ID, f.conn.ID)); got.ID != f.conn.ID {
			t.Fatalf("connection lost in migration")
		}
		if n := len(walk(t, s, RecordQuery{ConnectionID: f.conn.ID, Model: "work_orders"})); n != 3 {
			t.Fatalf("%d records after migration, want 3", n)
		}
		must[Job](t)(s.CreateJob(ctx, NewJob{AccountID: f.acct.ID, ConnectionID: f.conn.ID, Model: "work_orders", Op: "create", Total: 1}))
		must[WebhookEndpoint](t)(s.CreateWebhookEndpoint(ctx, f.acct.ID, NewWebhookEndpoint{URL: "https://example.com/hook"}))
		s.Close()
	}

	// A schema from a newer relay is refused rather than misread.
	s := b.open(t, loc, Options{Now: clk.Now}).(*sqlStore)
	if _, err := s.exec(ctx, s.w, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		len(latest)+1, "future", s.t(clk.Now())); err != nil {
		t.Fatal(err)
	}
	s.Close()
	switch s.d {
	case sqliteDialect:
		_, err = OpenSQLite(ctx, loc, Options{})
	default:
		_, err = OpenPostgres(ctx, loc, Options{})
	}
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("open of a newer schema: %v, want an error saying it is newer", err)
	}
}

func testAPIKeys(t *testing.T, b backend) {
	ctx := context.Background()
	s, _ := newStore(t, b)
	a := must[Account](t)(s.CreateAccount(ctx, "acme"))
	if _, err := s.CreateAccount(ctx, "  "); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty account name: %v", err)
	}
	k1, plain1, err := s.CreateAPIKey(ctx, a.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	k2, plain2, err := s.CreateAPIKey(ctx, a.ID, "dashboard")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plain1, APIKeyPrefix) || len(plain1) != len(APIKeyPrefix)+43 || !strings.HasPrefix(plain1, k1.Prefix) {
		t.Errorf("key %q with display prefix %q", plain1, k1.Prefix)
	}
	if _, _, err := s.CreateAPIKey(ctx, "acct_missing", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("key for a missing account: %v", err)
	}

	for _, tc := range []struct {
		name  string
		plain string
		want  error
	}{
		{"right", plain1, nil},
		{"other right", plain2, nil},
		{"wrong", plain1[:len(plain1)-1] + "x", ErrUnauthorized},
		{"empty", "", ErrUnauthorized},
		{"garbage", "Bearer nonsense", ErrUnauthorized},
	} {
		_, acct, err := s.AuthenticateAPIKey(ctx, tc.plain)
		if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
		if err == nil && acct.ID != a.ID {
			t.Errorf("%s: account %s, want %s", tc.name, acct.ID, a.ID)
		}
	}

	must[struct{}](t)(struct{}{}, s.RevokeAPIKey(ctx, a.ID, k1.ID))
	must[struct{}](t)(struct{}{}, s.RevokeAPIKey(ctx, a.ID, k1.ID)) // twice is fine
	if _, _, err := s.AuthenticateAPIKey(ctx, plain1); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("revoked key: %v", err)
	}
	if k, _, err := s.AuthenticateAPIKey(ctx, plain2); err != nil || k.ID != k2.ID {
		t.Errorf("other key after revoke: %v", err)
	}
	keys := must[[]APIKey](t)(s.ListAPIKeys(ctx, a.ID))
	if len(keys) != 2 || keys[0].ID != k1.ID || keys[0].RevokedAt == nil || keys[1].RevokedAt != nil {
		t.Errorf("keys = %+v", keys)
	}
}

func testConnections(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	a := must[Account](t)(s.CreateAccount(ctx, "acme"))

	for _, tc := range []struct {
		name string
		nc   NewConnection
	}{
		{"no name", NewConnection{System: "maximo"}},
		{"no system", NewConnection{Name: "x"}},
		{"array settings", NewConnection{Name: "x", System: "mp2", Settings: json.RawMessage(`[1]`)}},
		{"bad json", NewConnection{Name: "x", System: "mp2", Settings: json.RawMessage(`{`)}},
		{"null settings", NewConnection{Name: "x", System: "mp2", Settings: json.RawMessage(`null`)}},
	} {
		if _, err := s.CreateConnection(ctx, a.ID, tc.nc); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
	}
	if _, err := s.CreateConnection(ctx, "acct_missing", NewConnection{Name: "x", System: "mp2"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing account: %v", err)
	}

	var made []Connection
	for i := range 25 {
		clk.Add(time.Second)
		c := must[Connection](t)(s.CreateConnection(ctx, a.ID, NewConnection{Name: fmt.Sprintf("plant %d", i), System: "maximo"}))
		if string(c.Settings) != "{}" || c.AgentID == "" || c.AgentEnrolledAt != nil || !c.CreatedAt.Equal(clk.Now().Truncate(time.Microsecond)) {
			t.Fatalf("created %+v", c)
		}
		made = append(made, c)
	}
	var listed []Connection
	p := Page{Limit: 10}
	for pages := 0; ; pages++ {
		list, next, err := s.ListConnections(ctx, a.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, list...)
		if next == "" {
			if pages != 2 {
				t.Errorf("%d pages, want 3", pages+1)
			}
			break
		}
		p.After = next
	}
	if len(listed) != len(made) {
		t.Fatalf("listed %d connections, want %d", len(listed), len(made))
	}
	for i := range made {
		if listed[i].ID != made[i].ID {
			t.Fatalf("list order: %d is %s, want %s", i, listed[i].ID, made[i].ID)
		}
	}
	if _, _, err := s.ListConnections(ctx, a.ID, Page{Limit: MaxPageSize + 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized page: %v", err)
	}

	c := made[0]
	name := "renamed"
	clk.Add(time.Minute)
	u := must[Connection](t)(s.UpdateConnection(ctx, a.ID, c.ID, ConnectionUpdate{Name: &name, Settings: json.RawMessage(`{"a": [1, 2], "b": "x"}`)}))
	var got map[string]any
	if err := json.Unmarshal(u.Settings, &got); err != nil || !reflect.DeepEqual(got, map[string]any{"a": []any{1.0, 2.0}, "b": "x"}) {
		t.Errorf("settings %s, %v", u.Settings, err)
	}
	if u.Name != name || u.System != "maximo" || !u.UpdatedAt.After(c.UpdatedAt) || !u.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("updated %+v", u)
	}
	empty := ""
	if _, err := s.UpdateConnection(ctx, a.ID, c.ID, ConnectionUpdate{Name: &empty}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty name: %v", err)
	}
	if g := must[Connection](t)(s.GetConnection(ctx, a.ID, c.ID)); g.Name != name || !bytes.Equal(g.Settings, u.Settings) {
		t.Errorf("get after update %+v", g)
	}

	must[struct{}](t)(struct{}{}, s.DeleteConnection(ctx, a.ID, c.ID))
	wantErr(t, s.DeleteConnection(ctx, a.ID, c.ID), ErrNotFound, "second delete")
	_, err := s.GetConnection(ctx, a.ID, c.ID)
	wantErr(t, err, ErrNotFound, "get deleted")
	_, err = s.UpdateConnection(ctx, a.ID, c.ID, ConnectionUpdate{Name: &name})
	wantErr(t, err, ErrNotFound, "update deleted")
	_, err = s.ApplyBatch(ctx, c.ID, "b1", "work_orders", workOrders(c.ID, 0, 1, "x"), ApplyOptions{})
	wantErr(t, err, ErrNotFound, "apply batch to deleted connection")
	if list, _, _ := s.ListConnections(ctx, a.ID, Page{Limit: 100}); len(list) != 24 {
		t.Errorf("%d connections after delete, want 24", len(list))
	}
}

func testTenantIsolation(t *testing.T, b backend) {
	ctx := context.Background()
	s, _ := newStore(t, b)
	A := newFixture(t, s, "alpha")
	B := newFixture(t, s, "bravo")
	bKey, _, err := s.CreateAPIKey(ctx, B.acct.ID, "b")
	if err != nil {
		t.Fatal(err)
	}
	bJob := must[Job](t)(s.CreateJob(ctx, NewJob{AccountID: B.acct.ID, ConnectionID: B.conn.ID, Model: "work_orders", Op: "create",
		Inputs: []json.RawMessage{json.RawMessage(`{}`)}}))
	bHook := must[WebhookEndpoint](t)(s.CreateWebhookEndpoint(ctx, B.acct.ID, NewWebhookEndpoint{URL: "https://b.example/hook"}))
	name := "stolen"
	enabled := false
	conns := []string{B.conn.ID}

	// Every way account A could reach one of B's objects, each of which must
	// look exactly like a missing object.
	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"get connection", func() error { _, err := s.GetConnection(ctx, A.acct.ID, B.conn.ID); return err }},
		{"update connection", func() error {
			_, err := s.UpdateConnection(ctx, A.acct.ID, B.conn.ID, ConnectionUpdate{Name: &name})
			return err
		}},
		{"delete connection", func() error { return s.DeleteConnection(ctx, A.acct.ID, B.conn.ID) }},
		{"revoke agent", func() error { return s.RevokeAgent(ctx, A.acct.ID, B.conn.ID) }},
		{"enrollment token", func() error {
			_, _, err := s.CreateEnrollmentToken(ctx, A.acct.ID, B.conn.ID, time.Hour)
			return err
		}},
		{"revoke key", func() error { return s.RevokeAPIKey(ctx, A.acct.ID, bKey.ID) }},
		{"get job", func() error { _, err := s.GetJob(ctx, A.acct.ID, bJob.ID); return err }},
		{"job results", func() error { _, _, err := s.ListJobResults(ctx, A.acct.ID, bJob.ID, Page{}); return err }},
		{"job on other's connection", func() error {
			_, err := s.CreateJob(ctx, NewJob{AccountID: A.acct.ID, ConnectionID: B.conn.ID, Model: "work_orders", Op: "create", Total: 1})
			return err
		}},
		{"get webhook", func() error { _, err := s.GetWebhookEndpoint(ctx, A.acct.ID, bHook.ID); return err }},
		{"update webhook", func() error {
			_, err := s.UpdateWebhookEndpoint(ctx, A.acct.ID, bHook.ID, WebhookEndpointUpdate{Enabled: &enabled})
			return err
		}},
		{"delete webhook", func() error { return s.DeleteWebhookEndpoint(ctx, A.acct.ID, bHook.ID) }},
		{"rotate webhook secret", func() error {
			_, err := s.RotateWebhookSecret(ctx, A.acct.ID, bHook.ID, time.Hour)
			return err
		}},
		{"webhook attempts", func() error { _, _, err := s.ListAttempts(ctx, A.acct.ID, bHook.ID, Page{}); return err }},
		{"subscribe to other's connection", func() error {
			_, err := s.CreateWebhookEndpoint(ctx, A.acct.ID, NewWebhookEndpoint{URL: "https://a.example/h", ConnectionIDs: conns})
			return err
		}},
		{"test-send to other's endpoint", func() error {
			_, _, err := s.EnqueueDeliveries(ctx, NewWebhookEvent{AccountID: A.acct.ID, Type: "sync.completed", EndpointID: bHook.ID})
			return err
		}},
	} {
		wantErr(t, tc.op(), ErrNotFound, tc.name)
	}

	// B's objects are untouched and still B's.
	if c := must[Connection](t)(s.GetConnection(ctx, B.acct.ID, B.conn.ID)); c.Name != B.conn.Name {
		t.Errorf("B's connection changed: %+v", c)
	}
	if keys := must[[]APIKey](t)(s.ListAPIKeys(ctx, B.acct.ID)); len(keys) != 1 || keys[0].RevokedAt != nil {
		t.Errorf("B's keys: %+v", keys)
	}
	if h := must[WebhookEndpoint](t)(s.GetWebhookEndpoint(ctx, B.acct.ID, bHook.ID)); !h.Enabled || len(h.Secrets) != 1 {
		t.Errorf("B's webhook changed: %+v", h)
	}
	must[Job](t)(s.GetJob(ctx, B.acct.ID, bJob.ID))
	if list, _, _ := s.ListConnections(ctx, A.acct.ID, Page{}); len(list) != 1 || list[0].ID != A.conn.ID {
		t.Errorf("A lists %+v", list)
	}
	if keys := must[[]APIKey](t)(s.ListAPIKeys(ctx, A.acct.ID)); len(keys) != 0 {
		t.Errorf("A lists keys %+v", keys)
	}
	if list, _, _ := s.ListWebhookEndpoints(ctx, A.acct.ID, Page{}); len(list) != 0 {
		t.Errorf("A lists webhooks %+v", list)
	}
	// An event of A's never reaches B's endpoint.
	if _, n, err := s.EnqueueDeliveries(ctx, NewWebhookEvent{AccountID: A.acct.ID, Type: "sync.completed", ConnectionID: A.conn.ID}); err != nil || n != 0 {
		t.Errorf("A's event queued %d deliveries, %v", n, err)
	}
}

func testEnrollment(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")

	if _, _, err := s.CreateEnrollmentToken(ctx, f.acct.ID, f.conn.ID, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("zero ttl: %v", err)
	}
	tok, plain, err := s.CreateEnrollmentToken(ctx, f.acct.ID, f.conn.ID, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plain, EnrollmentTokenPrefix) || tok.ConnectionID != f.conn.ID {
		t.Errorf("token %q %+v", plain, tok)
	}
	_, err = s.RedeemEnrollmentToken(ctx, plain+"x")
	wantErr(t, err, ErrUnauthorized, "unknown token")

	clk.Add(14 * time.Minute)
	cred, err := s.RedeemEnrollmentToken(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	if cred.AgentID != f.conn.AgentID || cred.ConnectionID != f.conn.ID || cred.AccountID != f.acct.ID ||
		!strings.HasPrefix(cred.Secret, AgentSecretPrefix) {
		t.Errorf("credential %+v", cred)
	}
	_, err = s.RedeemEnrollmentToken(ctx, plain)
	wantErr(t, err, ErrTokenUsed, "second redeem")

	for _, tc := range []struct {
		name            string
		agentID, secret string
		want            error
	}{
		{"right", cred.AgentID, cred.Secret, nil},
		{"wrong secret", cred.AgentID, cred.Secret + "x", ErrUnauthorized},
		{"unknown agent", "agt_nobody", cred.Secret, ErrUnauthorized},
		{"empty", "", "", ErrUnauthorized},
	} {
		c, err := s.AuthenticateAgent(ctx, tc.agentID, tc.secret)
		if (err == nil) != (tc.want == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if err == nil && (c.ID != f.conn.ID || c.AgentEnrolledAt == nil) {
			t.Errorf("%s: connection %+v", tc.name, c)
		}
	}

	// Expiry, on the injected clock.
	_, plain2, err := s.CreateEnrollmentToken(ctx, f.acct.ID, f.conn.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	_, err = s.RedeemEnrollmentToken(ctx, plain2)
	wantErr(t, err, ErrTokenExpired, "expired token")

	// Re-enrolling replaces the credential: the old secret stops working.
	_, plain3, _ := s.CreateEnrollmentToken(ctx, f.acct.ID, f.conn.ID, time.Hour)
	cred2 := must[AgentCredential](t)(s.RedeemEnrollmentToken(ctx, plain3))
	if cred2.AgentID != cred.AgentID || cred2.Secret == cred.Secret {
		t.Errorf("re-enrolled %+v", cred2)
	}
	_, err = s.AuthenticateAgent(ctx, cred.AgentID, cred.Secret)
	wantErr(t, err, ErrUnauthorized, "replaced secret")
	must[Connection](t)(s.AuthenticateAgent(ctx, cred2.AgentID, cred2.Secret))

	must[struct{}](t)(struct{}{}, s.RevokeAgent(ctx, f.acct.ID, f.conn.ID))
	_, err = s.AuthenticateAgent(ctx, cred2.AgentID, cred2.Secret)
	wantErr(t, err, ErrUnauthorized, "revoked agent")

	// A token of a deleted connection enrolls nothing.
	_, plain4, _ := s.CreateEnrollmentToken(ctx, f.acct.ID, f.conn.ID, time.Hour)
	must[struct{}](t)(struct{}{}, s.DeleteConnection(ctx, f.acct.ID, f.conn.ID))
	_, err = s.RedeemEnrollmentToken(ctx, plain4)
	wantErr(t, err, ErrUnauthorized, "token of deleted connection")
}

func testConcurrentRedeem(t *testing.T, b backend) {
	ctx := context.Background()
	s, _ := newStore(t, b)
	f := newFixture(t, s, "acme")
	_, plain, err := s.CreateEnrollmentToken(ctx, f.acct.ID, f.conn.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		winners atomic.Int32
		creds   = make([]AgentCredential, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			cred, err := s.RedeemEnrollmentToken(ctx, plain)
			switch {
			case err == nil:
				winners.Add(1)
				creds[i] = cred
			case !errors.Is(err, ErrTokenUsed):
				t.Errorf("redeemer %d: %v, want ErrTokenUsed", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if w := winners.Load(); w != 1 {
		t.Fatalf("%d redeemers won, want exactly 1", w)
	}
	for _, c := range creds {
		if c.Secret != "" {
			must[Connection](t)(s.AuthenticateAgent(ctx, c.AgentID, c.Secret))
		}
	}
}

// testEncodedBatch: records applied in their encoded form are stored exactly as those
// applied as model.Record, so the two paths agree on what changed.
func testEncodedBatch(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")
	conn := f.conn.ID
	recs := workOrders(conn, 1, 4, "pump")
	recs[3].RemoteWasDeleted = true
	enc := make([]EncodedRecord, len(recs))
	for i, r := range recs {
		deleted := r.RemoteWasDeleted
		r.RemoteWasDeleted = false
		body, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		enc[i] = EncodedRecord{ID: r.ID, RemoteID: r.RemoteID, Deleted: deleted, Body: body}
	}
	r1 := must[BatchResult](t)(s.ApplyEncodedBatch(ctx, conn, "enc-1", "work_orders", enc, ApplyOptions{}))
	if r1.Duplicate || r1.Records != 4 || r1.Changed != 4 {
		t.Fatalf("encoded apply %+v", r1)
	}
	got := must[StoredRecord](t)(s.GetRecord(ctx, conn, "work_orders", recs[3].ID))
	if !got.RemoteWasDeleted {
		t.Error("encoded soft delete not stored")
	}
	dec, err := must[StoredRecord](t)(s.GetRecord(ctx, conn, "work_orders", recs[0].ID)).Decode()
	if err != nil || dec.Fields["title"] != "pump" || dec.CustomFields["crew"] != "A" {
		t.Errorf("decoded %+v, %v", dec, err)
	}
	// The same content through the other path changes nothing.
	clk.Add(time.Second)
	r2 := must[BatchResult](t)(s.ApplyBatch(ctx, conn, "rec-1", "work_orders", recs, ApplyOptions{}))
	if r2.Changed != 0 {
		t.Errorf("same content as model.Record changed %d records", r2.Changed)
	}
	if _, err := s.ApplyEncodedBatch(ctx, conn, "enc-2", "work_orders", []EncodedRecord{{ID: "x"}}, ApplyOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("record without body: %v", err)
	}
}

func testBatchIdempotency(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")
	conn := f.conn.ID
	get := func(id string) StoredRecord {
		t.Helper()
		return must[StoredRecord](t)(s.GetRecord(ctx, conn, "work_orders", id))
	}
	recs := workOrders(conn, 1, 3, "pump")

	r1 := must[BatchResult](t)(s.ApplyBatch(ctx, conn, "batch-1", "work_orders", recs, ApplyOptions{}))
	if r1.Duplicate || r1.Records != 3 || r1.Changed != 3 {
		t.Fatalf("first apply %+v", r1)
	}
	first := get(recs[0].ID)
	if !first.ModifiedAt.Equal(r1.ModifiedAt) || !first.CreatedAt.Equal(r1.ModifiedAt) {
		t.Errorf("record times %v %v, batch %v", first.CreatedAt, first.ModifiedAt, r1.ModifiedAt)
	}
	dec, err := first.Decode()
	if err != nil || dec.Fields["title"] != "pump" || dec.Fields["estimated_hours"] != "2.5" || dec.CustomFields["crew"] != "A" ||
		!dec.ModifiedAt.Equal(r1.ModifiedAt) || dec.RemoteID != recs[0].RemoteID || dec.Model != "work_orders" {
		t.Errorf("decoded %+v, %v", dec, err)
	}

	// The same batch again, even with other content, is a duplicate that
	// changes nothing.
	clk.Add(time.Second)
	again := workOrders(conn, 1, 3, "changed")
	r1b := must[BatchResult](t)(s.ApplyBatch(ctx, conn, "batch-1", "work_orders", again, ApplyOptions{}))
	if !r1b.Duplicate || r1b.Changed != 3 || !r1b.ModifiedAt.Equal(r1.ModifiedAt) {
		t.Errorf("re-sent batch %+v", r1b)
	}
	if g := get(recs[0].ID); !bytes.Equal(g.Body, first.Body) || !g.ModifiedAt.Equal(first.ModifiedAt) {
		t.Errorf("re-sent batch changed the record")
	}

	// The same records in a new batch (an overlap window re-read): nothing
	// changes, so nothing wakes consumers.
	clk.Add(time.Second)
	r2 := must[BatchResult](t)(s.ApplyBatch(ctx, conn, "batch-2", "work_orders", recs, ApplyOptions{}))
	if r2.Duplicate || r2.Changed != 0 || !r2.ModifiedAt.After(r1.ModifiedAt) {
		t.Errorf("overlap batch %+v", r2)
	}
	for _, r := range recs {
		if g := get(r.ID); !g.ModifiedAt.Equal(r1.ModifiedAt) {
			t.Errorf("%s modified_at moved to %v on unchanged content", r.ID, g.ModifiedAt)
		}
	}
	if page := must[RecordPage](t)(s.ListRecords(ctx, RecordQuery{ConnectionID: conn, Model: "work_orders", ModifiedAfter: r1.ModifiedAt})); len(page.Records) != 0 {
		t.Errorf("%d records modified after the first batch, want 0", len(page.Records))
	}

	// One changed record among unchanged ones, and the same record twice in
	// one batch: the later copy wins.
	clk.Add(time.Second)
	mixed := workOrders(conn, 1, 3, "pump")
	mixed[1].Fields["status"] = "in_progress"
	dup := workOrder(conn, 3, "pump")
	dup.Fields["title"] = "last copy wins"
	mixed = append(mixed, dup)
	r3 := must[BatchResult](t)(s.ApplyBatch(ctx, conn, "batch-3", "work_orders", mixed, ApplyOptions{}))
	if r3.Records != 3 || r3.Changed != 2 {
		t.Errorf("mixed batch %+v, want 3 records, 2 changed", r3)
	}
	if g := get(recs[1].ID); !g.ModifiedAt.Equal(r3.ModifiedAt) || !g.CreatedAt.Equal(r1.ModifiedAt) {
		t.Errorf("changed record times %v %v", g.CreatedAt, g.ModifiedAt)
	}
	if d, _ := get(recs[2].ID).Decode(); d.Fields["title"] != "last copy wins" {
		t.Errorf("duplicate in batch: title %v", d.Fields["title"])
	}
	page := must[RecordPage](t)(s.ListRecords(ctx, RecordQuery{ConnectionID: conn, Model: "work_orders", ModifiedAfter: r2.ModifiedAt}))
	if len(page.Records) != 2 {
		t.Errorf("%d records modified after batch 2, want 2", len(page.Records))
	}

	// Ids are derived from the remote id when the agent leaves them out.
	noID := workOrder(conn, 99, "derived")
	noID.ID = ""
	must[BatchResult](t)(s.ApplyBatch(ctx, conn, "batch-4", "work_orders", []model.Record{noID}, ApplyOptions{}))
	get(model.RecordID(conn, "work_orders", noID.RemoteID))
	if _, err := s.ApplyBatch(ctx, conn, "batch-5", "work_orders", []model.Record{{}}, ApplyOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("record without keys: %v", err)
	}
	if _, err := s.ApplyBatch(ctx, conn, "", "work_orders", recs, ApplyOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty batch id: %v", err)
	}
	if _, err := s.ApplyBatch(ctx, "conn_missing", "b", "work_orders", recs, ApplyOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing connection: %v", err)
	}
	_, err = s.GetRecord(ctx, conn, "assets", recs[0].ID)
	wantErr(t, err, ErrNotFound, "record of another model")
}

func testSoftDeletes(t *testing.T, b backend) {
	ctx := context.Background()
	s, _ := newStore(t, b)
	f := newFixture(t, s, "acme")
	conn := f.conn.ID
	recs := workOrders(conn, 1, 4, "fan")
	must[BatchResult](t)(s.ApplyBatch(ctx, conn, "b1", "work_orders", recs, ApplyOptions{}))

	// Agents send deletions as keys only; the stored body stays.
	del := model.Record{ID: recs[0].ID, RemoteID: recs[0].RemoteID, RemoteWasDeleted: true}
	r2 := must[BatchResult](t)(s.ApplyBatch(ctx, conn, "b2", "work_orders", []model.Record{del}, ApplyOptions{}))
	if r2.Changed != 1 {
		t.Errorf("delete batch %+v", r2)
	}
	g := must[StoredRecord](t)(s.GetRecord(ctx, conn, "work_orders", del.ID))
	d, _ := g.Decode()
	if !g.RemoteWasDeleted || !d.RemoteWasDeleted || d.Fields["title"] != "fan" || !g.ModifiedAt.Equal(r2.ModifiedAt) {
		t.Errorf("deleted record %+v", d)
	}
	live := walk(t, s, RecordQuery{ConnectionID: conn, Model: "work_orders"})
	all := walk(t, s, RecordQuery{ConnectionID: conn, Model: "work_orders", IncludeDeleted: true})
	if len(live) != 3 || len(all) != 4 {
		t.Errorf("%d live, %d with deleted; want 3, 4", len(live), len(all))
	}
	// Deleting again changes nothing.
	if r := must[BatchResult](t)(s.ApplyBatch(ctx, conn, "b3", "work_orders", []model.Record{del}, ApplyOptions{})); r.Changed != 0 {
		t.Errorf("second delete %+v", r)
	}
	// The record comes back when the source has it again.
	r4 := must[BatchResult](t)(s.ApplyBatch(ctx, conn, "b4", "work_orders", recs[:1], ApplyOptions{}))
	if g := must[StoredRecord](t)(s.GetRecord(ctx, conn, "work_orders", del.ID)); r4.Changed != 1 || g.RemoteWasDeleted || !g.ModifiedAt.Equal(r4.ModifiedAt) {
		t.Errorf("resurrected %+v after %+v", g, r4)
	}
}

// testConcurrentApplyOrder applies batches from several goroutines while two
// consumers page through the records, with a clock that runs backwards now
// and then. modified_at must be strictly increasing per connection in commit
// order, which the consumers observe as: no record is ever missed.
// testRecordsClockBoundsWalk walks the records again and again, each walk
// bounded by RecordsClock read at its start, while writers keep changing them.
// A batch commits its records with a modified_at taken when it began; bounded
// by the wall clock instead, a walk could meet a record before such a commit
// and again after it.
func testRecordsClockBoundsWalk(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t, b.fresh(t), Options{})
	f := newFixture(t, s, "acme")
	conn := f.conn.ID
	if c := must[time.Time](t)(s.RecordsClock(ctx, conn)); !c.IsZero() {
		t.Fatalf("clock of a connection without records: %v", c)
	}
	const total = 400
	first := must[BatchResult](t)(s.ApplyBatch(ctx, conn, "init", "work_orders", workOrders(conn, 0, total, "v0"), ApplyOptions{}))
	if c := must[time.Time](t)(s.RecordsClock(ctx, conn)); !c.Equal(first.ModifiedAt) {
		t.Fatalf("clock %v after a batch at %v", c, first.ModifiedAt)
	}
	if _, err := s.RecordsClock(ctx, "conn_missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("clock of a missing connection: %v", err)
	}

	var done atomic.Bool
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; !done.Load(); i++ {
				recs := workOrders(conn, (w*97+i*31)%(total-40), 40, fmt.Sprintf("w%d-%d", w, i))
				if _, err := s.ApplyBatch(ctx, conn, fmt.Sprintf("w%d-%d", w, i), "work_orders", recs, ApplyOptions{}); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	defer func() { done.Store(true); wg.Wait() }()
	for range 30 {
		clock := must[time.Time](t)(s.RecordsClock(ctx, conn))
		seen := map[string]bool{}
		q := RecordQuery{ConnectionID: conn, Model: "work_orders", Limit: 50, ModifiedBefore: clock.Add(time.Microsecond)}
		for {
			page := must[RecordPage](t)(s.ListRecords(ctx, q))
			for _, r := range page.Records {
				if seen[r.ID] {
					t.Fatalf("%s twice in one walk bounded at %v (now at %v)", r.ID, clock, r.ModifiedAt)
				}
				seen[r.ID] = true
			}
			if !page.More {
				break
			}
			last := page.Records[len(page.Records)-1]
			q.After = &RecordCursor{ModifiedAt: last.ModifiedAt, ID: last.ID}
		}
	}
}

func testConcurrentApplyOrder(t *testing.T, b backend) {
	ctx := context.Background()
	var tick atomic.Int64
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// Jumps back and forth by up to 3 ms: a wall clock stepped by NTP, or
	// replicas whose clocks disagree.
	clock := func() time.Time { n := tick.Add(1); return base.Add(time.Duration(n%7-3) * time.Millisecond) }
	s := b.open(t, b.fresh(t), Options{Now: clock})
	f := newFixture(t, s, "acme")
	conn := f.conn.ID
	other := must[Connection](t)(s.CreateConnection(ctx, f.acct.ID, NewConnection{Name: "other", System: "mp2"}))

	const writers, batches, perBatch = 4, 20, 15
	var (
		wg       sync.WaitGroup
		done     atomic.Bool
		mu       sync.Mutex
		stamps   []time.Time
		expected = make(map[string]bool)
	)
	for w := range writers {
		wg.Go(func() {
			for i := range batches {
				from := (w*batches + i) * perBatch
				recs := workOrders(conn, from, perBatch, "w")
				res, err := s.ApplyBatch(ctx, conn, fmt.Sprintf("w%d-%d", w, i), "work_orders", recs, ApplyOptions{})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				// Interleave another connection's batches: its clock is
				// its own.
				if _, err := s.ApplyBatch(ctx, other.ID, fmt.Sprintf("o%d-%d", w, i), "work_orders", workOrders(other.ID, from, 2, "o"), ApplyOptions{}); err != nil {
					t.Errorf("writer %d other: %v", w, err)
				}
				mu.Lock()
				stamps = append(stamps, res.ModifiedAt)
				for _, r := range recs {
					expected[r.ID] = true
				}
				mu.Unlock()
			}
		})
	}

	// Consumer 1 pages by cursor; consumer 2 polls "modified after my
	// watermark" and pages within each poll, as an API client syncing by
	// modified_after does.
	type result struct {
		seen map[string]int
		err  error
	}
	consume := func(byWatermark bool) <-chan result {
		out := make(chan result, 1)
		go func() {
			seen := map[string]int{}
			var after *RecordCursor
			var watermark, last time.Time
			for {
				finished := done.Load() // read before the query: a final empty page then proves completeness
				q := RecordQuery{ConnectionID: conn, Model: "work_orders", Limit: 7, After: after}
				if byWatermark {
					q.After, q.ModifiedAfter = nil, watermark
				}
				var got int
				for {
					page, err := s.ListRecords(ctx, q)
					if err != nil {
						out <- result{err: err}
						return
					}
					for _, r := range page.Records {
						if r.ModifiedAt.Before(last) {
							out <- result{err: fmt.Errorf("modified_at went back from %v to %v", last, r.ModifiedAt)}
							return
						}
						last = r.ModifiedAt
						seen[r.ID]++
						got++
						after = &RecordCursor{ModifiedAt: r.ModifiedAt, ID: r.ID}
						if r.ModifiedAt.After(watermark) {
							watermark = r.ModifiedAt
						}
					}
					if !byWatermark || page.Next == nil {
						break
					}
					q.After = page.Next
				}
				if got == 0 && finished {
					out <- result{seen: seen}
					return
				}
			}
		}()
		return out
	}
	c1, c2 := consume(false), consume(true)
	wg.Wait()
	done.Store(true)

	for i, c := range []<-chan result{c1, c2} {
		r := <-c
		if r.err != nil {
			t.Fatalf("consumer %d: %v", i+1, r.err)
		}
		if len(r.seen) != len(expected) {
			t.Errorf("consumer %d saw %d records, want %d", i+1, len(r.seen), len(expected))
		}
		for id := range expected {
			if r.seen[id] != 1 {
				t.Errorf("consumer %d saw %s %d times", i+1, id, r.seen[id])
				break
			}
		}
	}
	slices.SortFunc(stamps, time.Time.Compare)
	for i := 1; i < len(stamps); i++ {
		if !stamps[i].After(stamps[i-1]) {
			t.Fatalf("two batches share modified_at %v", stamps[i])
		}
	}
}

func testFullSyncDeletes(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")
	conn := f.conn.ID
	recs := workOrders(conn, 1, 10, "x") // keys 1..10
	r0 := must[BatchResult](t)(s.ApplyBatch(ctx, conn, "inc-1", "work_orders", recs, ApplyOptions{}))
	must[BatchResult](t)(s.ApplyBatch(ctx, conn, "assets-1", "assets", []model.Record{{RemoteID: "PUMP-1", Fields: map[string]any{"name": "pump"}}}, ApplyOptions{}))

	// A full re-sync sees 1..5 unchanged and a new 11; an incremental batch
	// during it carries a changed 7. 6, 8, 9, 10 are gone from the source.
	clk.Add(time.Minute)
	fs := ApplyOptions{FullSyncID: "full-1"}
	r1 := must[BatchResult](t)(s.ApplyBatch(ctx, conn, "full-1-a", "work_orders", recs[:3], fs))
	r2 := must[BatchResult](t)(s.ApplyBatch(ctx, conn, "full-1-b", "work_orders", append(slices.Clone(recs[3:5]), workOrder(conn, 11, "x")), fs))
	if r1.Changed != 0 || r2.Changed != 1 {
		t.Errorf("full sync batches changed %d, %d; want 0, 1", r1.Changed, r2.Changed)
	}
	seven := workOrder(conn, 7, "changed")
	must[BatchResult](t)(s.ApplyBatch(ctx, conn, "inc-2", "work_orders", []model.Record{seven}, ApplyOptions{}))
	before := must[RecordPage](t)(s.ListRecords(ctx, RecordQuery{ConnectionID: conn, Model: "work_orders", IncludeDeleted: true, Limit: 1000}))
	var last time.Time
	for _, r := range before.Records {
		last = r.ModifiedAt
	}

	clk.Add(time.Minute)
	n, err := s.MarkMissingDeleted(ctx, conn, "work_orders", "full-1")
	if err != nil || n != 4 {
		t.Fatalf("marked %d deleted, %v; want 4", n, err)
	}
	changed := must[RecordPage](t)(s.ListRecords(ctx, RecordQuery{ConnectionID: conn, Model: "work_orders", IncludeDeleted: true, ModifiedAfter: last}))
	var gone []string
	for _, r := range changed.Records {
		if !r.RemoteWasDeleted {
			t.Errorf("%s changed but not deleted", r.RemoteID)
		}
		gone = append(gone, r.RemoteID)
	}
	slices.Sort(gone)
	want := []string{"BEDFORD/0000006", "BEDFORD/0000008", "BEDFORD/0000009", "BEDFORD/0000010"}
	if !slices.Equal(gone, want) {
		t.Errorf("deleted %v, want %v", gone, want)
	}
	for _, r := range recs[:5] {
		if g := must[StoredRecord](t)(s.GetRecord(ctx, conn, "work_orders", r.ID)); g.RemoteWasDeleted || !g.ModifiedAt.Equal(r0.ModifiedAt) {
			t.Errorf("%s: deleted %v, modified_at %v; want live and unchanged", r.RemoteID, g.RemoteWasDeleted, g.ModifiedAt)
		}
	}
	if g := must[StoredRecord](t)(s.GetRecord(ctx, conn, "work_orders", seven.ID)); g.RemoteWasDeleted {
		t.Errorf("record seen by an incremental batch during the re-sync was deleted")
	}
	if n, err := s.MarkMissingDeleted(ctx, conn, "work_orders", "full-1"); err != nil || n != 0 {
		t.Errorf("second mark: %d, %v", n, err)
	}
	if _, err := s.MarkMissingDeleted(ctx, conn, "work_orders", "full-unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown full sync: %v", err)
	}

	// A re-sync that finds the source table empty sends no batch at all.
	must[struct{}](t)(struct{}{}, s.StartFullSync(ctx, conn, "work_orders", "full-2"))
	if n, err := s.MarkMissingDeleted(ctx, conn, "work_orders", "full-2"); err != nil || n != 7 {
		t.Errorf("empty re-sync deleted %d, %v; want 7", n, err)
	}
	// Other models are not touched.
	if page := must[RecordPage](t)(s.ListRecords(ctx, RecordQuery{ConnectionID: conn, Model: "assets"})); len(page.Records) != 1 {
		t.Errorf("assets: %d live, want 1", len(page.Records))
	}
}

func testPaginationWalk(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")
	conn := f.conn.ID
	const total, batch = 10000, 1000
	var stamps []time.Time
	for i := 0; i < total; i += batch {
		// Every record of a batch shares its modified_at, so most of the
		// walk is ordered by the id tie-break.
		r := must[BatchResult](t)(s.ApplyBatch(ctx, conn, fmt.Sprintf("b%d", i), "work_orders", workOrders(conn, i, batch, "walk"), ApplyOptions{}))
		stamps = append(stamps, r.ModifiedAt)
		clk.Add(time.Millisecond)
	}
	// Another model and connection interleaved in the index must not leak in.
	must[BatchResult](t)(s.ApplyBatch(ctx, conn, "assets", "assets", []model.Record{{RemoteID: "A1"}}, ApplyOptions{}))

	for _, size := range []int{100, 333, 1000} {
		all := walk(t, s, RecordQuery{ConnectionID: conn, Model: "work_orders", Limit: size})
		if len(all) != total {
			t.Fatalf("page size %d: walked %d records, want %d", size, len(all), total)
		}
		seen := make(map[string]bool, total)
		for i, r := range all {
			if seen[r.ID] {
				t.Fatalf("page size %d: %s repeated", size, r.ID)
			}
			seen[r.ID] = true
			if i > 0 {
				p := all[i-1]
				if r.ModifiedAt.Before(p.ModifiedAt) || r.ModifiedAt.Equal(p.ModifiedAt) && r.ID <= p.ID {
					t.Fatalf("page size %d: %d out of order", size, i)
				}
			}
		}
	}
	// Walking backwards from the end visits the same records in the same
	// order, page by page.
	all := walk(t, s, RecordQuery{ConnectionID: conn, Model: "work_orders", Limit: 1000})
	last := all[len(all)-1]
	var back []StoredRecord
	before := &RecordCursor{ModifiedAt: last.ModifiedAt, ID: last.ID}
	for {
		page := must[RecordPage](t)(s.ListRecords(ctx, RecordQuery{ConnectionID: conn, Model: "work_orders", Limit: 333, Before: before}))
		back = append(append([]StoredRecord(nil), page.Records...), back...)
		if !page.More {
			break
		}
		before = &RecordCursor{ModifiedAt: page.Records[0].ModifiedAt, ID: page.Records[0].ID}
	}
	if len(back) != total-1 {
		t.Fatalf("backward walk: %d records, want %d", len(back), total-1)
	}
	for i := range back {
		if back[i].ID != all[i].ID {
			t.Fatalf("backward walk: record %d is %s, want %s", i, back[i].ID, all[i].ID)
		}
	}
	// Bounded windows.
	win := walk(t, s, RecordQuery{ConnectionID: conn, Model: "work_orders", ModifiedAfter: stamps[2], ModifiedBefore: stamps[6]})
	if len(win) != 3*batch {
		t.Errorf("window walked %d, want %d", len(win), 3*batch)
	}
	// A cursor and modified_after together: the later bound wins.
	page := must[RecordPage](t)(s.ListRecords(ctx, RecordQuery{ConnectionID: conn, Model: "work_orders",
		After: &RecordCursor{ModifiedAt: stamps[0]}, ModifiedAfter: stamps[8], Limit: 1000}))
	if len(page.Records) != batch || page.Next != nil {
		t.Errorf("cursor before modified_after: %d records, next %v", len(page.Records), page.Next)
	}
	if _, err := s.ListRecords(ctx, RecordQuery{ConnectionID: conn, Model: "work_orders", Limit: 1001}); !errors.Is(err, ErrInvalid) {
		t.Errorf("limit 1001: %v", err)
	}
}

func testSyncState(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")
	t0 := clk.Now()
	t1, t2 := t0.Add(90*time.Second), t0.Add(time.Hour)
	states := []SyncState{
		{ConnectionID: f.conn.ID, Model: "work_orders", Status: SyncDone, LastSyncStart: &t0, LastSyncFinished: &t1,
			LastSuccessfulSyncAt: &t1, NextSyncStart: &t2, RecordsSynced: 12345},
		{ConnectionID: f.conn.ID, Model: "assets", Status: SyncFailed, LastSyncStart: &t0, IsInitialSync: true,
			Error: &ErrorDetail{Code: "SOURCE_ERROR", Message: "ORA-12541: no listener"}},
		{ConnectionID: f.conn.ID, Model: "parts", Status: SyncPaused},
	}
	for _, st := range states {
		must[struct{}](t)(struct{}{}, s.PutSyncState(ctx, st))
	}
	got := must[[]SyncState](t)(s.ListSyncStates(ctx, f.conn.ID))
	byModel := map[string]SyncState{}
	for _, g := range got {
		byModel[g.Model] = g
	}
	if len(got) != 3 || got[0].Model != "assets" {
		t.Fatalf("states %+v", got)
	}
	for _, want := range states {
		g := byModel[want.Model]
		if !g.UpdatedAt.Equal(t0) {
			t.Errorf("%s updated_at %v", want.Model, g.UpdatedAt)
		}
		g.UpdatedAt = time.Time{}
		if !reflect.DeepEqual(g, want) {
			t.Errorf("%s round trip:\n got %+v\nwant %+v", want.Model, g, want)
		}
	}
	// Put replaces, including clearing the error.
	ok := states[1]
	ok.Status, ok.Error, ok.IsInitialSync = SyncSyncing, nil, false
	must[struct{}](t)(struct{}{}, s.PutSyncState(ctx, ok))
	if g := must[[]SyncState](t)(s.ListSyncStates(ctx, f.conn.ID))[0]; g.Status != SyncSyncing || g.Error != nil || g.IsInitialSync {
		t.Errorf("after replace %+v", g)
	}
	wantErr(t, s.PutSyncState(ctx, SyncState{ConnectionID: f.conn.ID, Model: "x", Status: "bogus"}), ErrInvalid, "bad status")
	wantErr(t, s.PutSyncState(ctx, SyncState{ConnectionID: "conn_missing", Model: "x", Status: SyncDone}), ErrNotFound, "missing connection")
}

func testConnectionEvents(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")
	var added []ConnectionEvent
	for i := range 12 {
		clk.Add(time.Second)
		e := must[ConnectionEvent](t)(s.AddConnectionEvent(ctx, ConnectionEvent{
			ConnectionID: f.conn.ID, AgentID: f.conn.AgentID, Kind: []string{"connect", "disconnect"}[i%2],
			RemoteAddr: "203.0.113.7:51234", RTT: 23*time.Millisecond + 456*time.Nanosecond, Reason: "keepalive_timeout", Detail: fmt.Sprint(i),
		}))
		added = append(added, e)
	}
	must[ConnectionEvent](t)(s.AddConnectionEvent(ctx, ConnectionEvent{AgentID: "agt_unknown", Kind: "auth_failed", RemoteAddr: "198.51.100.1:1"}))

	var got []ConnectionEvent
	p := Page{Limit: 5}
	for {
		list, next, err := s.ListConnectionEvents(ctx, f.conn.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, list...)
		if next == "" {
			break
		}
		p.After = next
	}
	if len(got) != len(added) {
		t.Fatalf("listed %d events, want %d", len(got), len(added))
	}
	for i, e := range got {
		want := added[len(added)-1-i] // newest first
		if !reflect.DeepEqual(e, want) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, e, want)
		}
	}
	if e := got[0]; e.RTT != 23*time.Millisecond || !e.At.Equal(clk.Now().Truncate(time.Microsecond)) {
		t.Errorf("newest event %+v", e)
	}
	if _, _, err := s.ListConnectionEvents(ctx, f.conn.ID, Page{After: "x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad cursor: %v", err)
	}
}

func testJobs(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")
	inputs := make([]json.RawMessage, 1200)
	for i := range inputs {
		inputs[i] = json.RawMessage(fmt.Sprintf(`{"title":"wo %d"}`, i))
	}
	j := must[Job](t)(s.CreateJob(ctx, NewJob{AccountID: f.acct.ID, ConnectionID: f.conn.ID, Model: "work_orders", Op: "create", Inputs: inputs}))
	if j.Status != JobQueued || j.Total != 1200 || !strings.HasPrefix(j.ID, "job_") {
		t.Fatalf("created %+v", j)
	}
	if _, err := s.CreateJob(ctx, NewJob{AccountID: f.acct.ID, ConnectionID: f.conn.ID, Model: "work_orders", Op: "create",
		Inputs: []json.RawMessage{json.RawMessage(`{`)}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad input: %v", err)
	}

	c := must[*Job](t)(s.ClaimJob(ctx, "worker-1", time.Minute))
	if c == nil || c.ID != j.ID || c.Status != JobRunning || c.Worker != "worker-1" || c.Attempts != 1 {
		t.Fatalf("claimed %+v", c)
	}
	if again := must[*Job](t)(s.ClaimJob(ctx, "worker-2", time.Minute)); again != nil {
		t.Fatalf("claimed a held job: %+v", again)
	}
	in := must[[]JobInput](t)(s.JobInputs(ctx, j.ID, 1000, 500))
	if len(in) != 200 || in[0].Index != 1000 || string(in[0].Body) != `{"title":"wo 1000"}` {
		t.Errorf("inputs from 1000: %d, first %+v", len(in), in[0])
	}

	results := func(from, n int) []JobResult {
		out := make([]JobResult, n)
		for i := range out {
			idx := from + i
			out[i] = JobResult{Index: idx, StatusCode: 201, RecordID: fmt.Sprintf("wo_%d", idx), Record: json.RawMessage(`{"ok":true}`)}
			if idx%10 == 0 {
				out[i] = JobResult{Index: idx, StatusCode: 400, Error: &ErrorDetail{Code: "VALIDATION_FAILED", Message: "title required"}}
			}
		}
		return out
	}
	must[struct{}](t)(struct{}{}, s.AppendJobResults(ctx, j.ID, "worker-1", results(0, 600)))
	// A retried chunk counts once.
	must[struct{}](t)(struct{}{}, s.AppendJobResults(ctx, j.ID, "worker-1", results(500, 200)))
	wantErr(t, s.AppendJobResults(ctx, j.ID, "worker-2", results(700, 1)), ErrConflict, "results from a non-holder")
	wantErr(t, s.AppendJobResults(ctx, j.ID, "worker-1", results(1200, 1)), ErrInvalid, "result past the inputs")

	// The lease runs out: another worker takes over and the first is shut out.
	clk.Add(61 * time.Second)
	c2 := must[*Job](t)(s.ClaimJob(ctx, "worker-2", time.Minute))
	if c2 == nil || c2.ID != j.ID || c2.Attempts != 2 || c2.Processed != 700 {
		t.Fatalf("takeover %+v", c2)
	}
	wantErr(t, s.RenewJobLease(ctx, j.ID, "worker-1", time.Minute), ErrConflict, "renew a lost lease")
	wantErr(t, s.FinishJob(ctx, j.ID, "worker-1", JobCompleted, nil), ErrConflict, "finish a lost job")
	must[struct{}](t)(struct{}{}, s.RenewJobLease(ctx, j.ID, "worker-2", time.Minute))
	must[struct{}](t)(struct{}{}, s.AppendJobResults(ctx, j.ID, "worker-2", results(700, 500)))
	must[struct{}](t)(struct{}{}, s.FinishJob(ctx, j.ID, "worker-2", JobCompleted, nil))

	g := must[Job](t)(s.GetJob(ctx, f.acct.ID, j.ID))
	if g.Status != JobCompleted || g.Processed != 1200 || g.Failed != 120 || g.Succeeded != 1080 || g.FinishedAt == nil || g.LeaseUntil != nil {
		t.Errorf("finished %+v", g)
	}
	var all []JobResult
	p := Page{Limit: 500}
	for {
		list, next, err := s.ListJobResults(ctx, f.acct.ID, j.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, list...)
		if next == "" {
			break
		}
		p.After = next
	}
	if len(all) != 1200 || all[10].Error == nil || all[10].Error.Code != "VALIDATION_FAILED" || string(all[11].Record) != `{"ok":true}` {
		t.Errorf("%d results; 10: %+v", len(all), all[10])
	}
	for i, r := range all {
		if r.Index != i {
			t.Fatalf("result %d has index %d", i, r.Index)
		}
	}
	if j := must[*Job](t)(s.ClaimJob(ctx, "worker-3", time.Minute)); j != nil {
		t.Errorf("claimed a finished job %+v", j)
	}
}

func testJobClaimExactlyOnce(t *testing.T, b backend) {
	ctx := context.Background()
	loc := b.fresh(t)
	clk := newFakeClock()
	s := b.open(t, loc, Options{Now: clk.Now})
	replica := b.open(t, loc, Options{Now: clk.Now})
	f := newFixture(t, s, "acme")
	const jobs = 30
	for i := range jobs {
		must[Job](t)(s.CreateJob(ctx, NewJob{AccountID: f.acct.ID, ConnectionID: f.conn.ID, Model: "work_orders", Op: fmt.Sprint("op", i), Total: 1}))
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		claimed = map[string]string{}
	)
	for w := range 8 {
		st := s
		if w%2 == 1 {
			st = replica
		}
		wg.Go(func() {
			worker := fmt.Sprint("w", w)
			for {
				j, err := st.ClaimJob(ctx, worker, time.Hour)
				if err != nil {
					t.Errorf("%s: %v", worker, err)
					return
				}
				if j == nil {
					return
				}
				mu.Lock()
				if prev, ok := claimed[j.ID]; ok {
					t.Errorf("%s claimed by %s and %s", j.ID, prev, worker)
				}
				claimed[j.ID] = worker
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != jobs {
		t.Errorf("%d jobs claimed, want %d", len(claimed), jobs)
	}
}

func testIdempotency(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")
	other := newFixture(t, s, "other")
	acct := f.acct.ID

	got, err := s.ReserveIdempotencyKey(ctx, acct, "key-1", "fp-a")
	if err != nil || got != nil {
		t.Fatalf("first reserve: %v, %v", got, err)
	}
	_, err = s.ReserveIdempotencyKey(ctx, acct, "key-1", "fp-a")
	wantErr(t, err, ErrConflict, "reserve while in progress")
	_, err = s.ReserveIdempotencyKey(ctx, acct, "key-1", "fp-b")
	wantErr(t, err, ErrConflict, "reserve with another fingerprint while in progress")
	// Keys are per account.
	if got, err := s.ReserveIdempotencyKey(ctx, other.acct.ID, "key-1", "fp-b"); err != nil || got != nil {
		t.Errorf("same key in another account: %v, %v", got, err)
	}

	body := []byte(`{"id":"wo_1"}`)
	must[struct{}](t)(struct{}{}, s.SaveIdempotentResponse(ctx, acct, "key-1", IdempotentResponse{StatusCode: 201, Body: body}))
	clk.Add(time.Hour)
	replay, err := s.ReserveIdempotencyKey(ctx, acct, "key-1", "fp-a")
	if err != nil || replay == nil || replay.StatusCode != 201 || !bytes.Equal(replay.Body, body) {
		t.Fatalf("replay: %+v, %v", replay, err)
	}
	_, err = s.ReserveIdempotencyKey(ctx, acct, "key-1", "fp-b")
	wantErr(t, err, ErrConflict, "reuse with another fingerprint")

	// After 24 hours the key is free again.
	clk.Add(IdempotencyTTL)
	if got, err := s.ReserveIdempotencyKey(ctx, acct, "key-1", "fp-b"); err != nil || got != nil {
		t.Errorf("reserve after expiry: %v, %v", got, err)
	}

	// A released reservation may be retried; so may one whose request died.
	must[*IdempotentResponse](t)(s.ReserveIdempotencyKey(ctx, acct, "key-2", "fp"))
	must[struct{}](t)(struct{}{}, s.ReleaseIdempotencyKey(ctx, acct, "key-2"))
	must[*IdempotentResponse](t)(s.ReserveIdempotencyKey(ctx, acct, "key-2", "fp"))
	clk.Add(idempotencyLease)
	if got, err := s.ReserveIdempotencyKey(ctx, acct, "key-2", "fp"); err != nil || got != nil {
		t.Errorf("take over a stale reservation: %v, %v", got, err)
	}
	wantErr(t, s.SaveIdempotentResponse(ctx, acct, "key-missing", IdempotentResponse{StatusCode: 200}), ErrNotFound, "save without reserve")
	_, err = s.ReserveIdempotencyKey(ctx, "acct_missing", "k", "fp")
	wantErr(t, err, ErrNotFound, "missing account")

	// Of concurrent first requests exactly one proceeds.
	var wg sync.WaitGroup
	var winners atomic.Int32
	for range 8 {
		wg.Go(func() {
			got, err := s.ReserveIdempotencyKey(ctx, acct, "key-race", "fp")
			switch {
			case err == nil && got == nil:
				winners.Add(1)
			case !errors.Is(err, ErrConflict):
				t.Errorf("racing reserve: %v", err)
			}
		})
	}
	wg.Wait()
	if winners.Load() != 1 {
		t.Errorf("%d concurrent reservations won, want 1", winners.Load())
	}
}

func testWebhookFanOut(t *testing.T, b backend) {
	ctx := context.Background()
	s, _ := newStore(t, b)
	f := newFixture(t, s, "acme")
	c2 := must[Connection](t)(s.CreateConnection(ctx, f.acct.ID, NewConnection{Name: "second", System: "sap_pm"}))
	acct := f.acct.ID
	mk := func(ne NewWebhookEndpoint) WebhookEndpoint {
		t.Helper()
		return must[WebhookEndpoint](t)(s.CreateWebhookEndpoint(ctx, acct, ne))
	}
	all := mk(NewWebhookEndpoint{URL: "https://all.example/hook", Description: "everything"})
	syncC1 := mk(NewWebhookEndpoint{URL: "https://c1.example/hook", EventTypes: []string{"sync.completed", "sync.failed", "sync.completed"}, ConnectionIDs: []string{f.conn.ID}})
	jobs := mk(NewWebhookEndpoint{URL: "https://jobs.example/hook", EventTypes: []string{"job.completed"}})
	off := mk(NewWebhookEndpoint{URL: "https://off.example/hook", Disabled: true})
	if !slices.Equal(syncC1.EventTypes, []string{"sync.completed", "sync.failed"}) || len(all.EventTypes) != 0 || off.Enabled ||
		len(all.Secrets) != 1 || !strings.HasPrefix(all.Secrets[0].Secret, WebhookSecretPrefix) {
		t.Errorf("endpoints %+v %+v", syncC1, all)
	}
	for _, ne := range []NewWebhookEndpoint{{URL: "ftp://x"}, {URL: "/relative"}, {URL: "https://x", EventTypes: []string{""}}} {
		if _, err := s.CreateWebhookEndpoint(ctx, acct, ne); !errors.Is(err, ErrInvalid) {
			t.Errorf("endpoint %+v: %v", ne, err)
		}
	}

	for _, tc := range []struct {
		name  string
		ev    NewWebhookEvent
		wants []string
	}{
		{"sync on c1", NewWebhookEvent{Type: "sync.completed", ConnectionID: f.conn.ID}, []string{all.ID, syncC1.ID}},
		{"sync on c2", NewWebhookEvent{Type: "sync.completed", ConnectionID: c2.ID}, []string{all.ID}},
		{"job without connection", NewWebhookEvent{Type: "job.completed"}, []string{all.ID, jobs.ID}},
		{"status change", NewWebhookEvent{Type: "connection.status_changed", ConnectionID: f.conn.ID}, []string{all.ID}},
		{"test send to a disabled endpoint", NewWebhookEvent{Type: "sync.failed", EndpointID: off.ID}, []string{off.ID}},
	} {
		tc.ev.AccountID = acct
		tc.ev.Payload = json.RawMessage(`{"model":"work_orders"}`)
		ev, n, err := s.EnqueueDeliveries(ctx, tc.ev)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n != len(tc.wants) || !strings.HasPrefix(ev.ID, "msg_") {
			t.Errorf("%s: %d deliveries for %s, want %d", tc.name, n, ev.ID, len(tc.wants))
		}
	}

	now := time.Now() // the delivery clock is the caller's
	due := must[[]Delivery](t)(s.ClaimDueDeliveries(ctx, now.Add(time.Hour), 100, time.Minute))
	byEndpoint := map[string]int{}
	for _, d := range due {
		byEndpoint[d.EndpointID]++
		if d.URL == "" || len(d.Secrets) != 1 || string(d.Event.Payload) != `{"model":"work_orders"}` || d.Event.AccountID != acct {
			t.Errorf("delivery %+v", d)
		}
	}
	want := map[string]int{all.ID: 4, syncC1.ID: 1, jobs.ID: 1}
	if !reflect.DeepEqual(byEndpoint, want) {
		t.Errorf("claimed per endpoint %v, want %v (disabled endpoints wait)", byEndpoint, want)
	}
	on := true
	must[WebhookEndpoint](t)(s.UpdateWebhookEndpoint(ctx, acct, off.ID, WebhookEndpointUpdate{Enabled: &on}))
	if d := must[[]Delivery](t)(s.ClaimDueDeliveries(ctx, now.Add(time.Hour), 100, time.Minute)); len(d) != 1 || d[0].EndpointID != off.ID {
		t.Errorf("after enabling: %+v", d)
	}

	// Changing a subscription changes the fan-out; an empty list is "all".
	types := []string{}
	u := must[WebhookEndpoint](t)(s.UpdateWebhookEndpoint(ctx, acct, jobs.ID, WebhookEndpointUpdate{EventTypes: &types}))
	if len(u.EventTypes) != 0 || u.URL != jobs.URL {
		t.Errorf("updated %+v", u)
	}
	if _, n, _ := s.EnqueueDeliveries(ctx, NewWebhookEvent{AccountID: acct, Type: "system.error"}); n != 3 {
		t.Errorf("system.error queued %d, want 3", n)
	}
	must[struct{}](t)(struct{}{}, s.DeleteWebhookEndpoint(ctx, acct, all.ID))
	_, err := s.GetWebhookEndpoint(ctx, acct, all.ID)
	wantErr(t, err, ErrNotFound, "deleted endpoint")
	list, _, _ := s.ListWebhookEndpoints(ctx, acct, Page{})
	if len(list) != 3 {
		t.Errorf("%d endpoints after delete", len(list))
	}
}

func testWebhookDeliveryLifecycle(t *testing.T, b backend) {
	ctx := context.Background()
	s, _ := newStore(t, b)
	f := newFixture(t, s, "acme")
	acct := f.acct.ID
	ep := must[WebhookEndpoint](t)(s.CreateWebhookEndpoint(ctx, acct, NewWebhookEndpoint{URL: "https://x.example/h"}))
	ev, _, err := s.EnqueueDeliveries(ctx, NewWebhookEvent{AccountID: acct, Type: "sync.failed", ConnectionID: f.conn.ID})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	claim := func(at time.Time) []Delivery {
		t.Helper()
		return must[[]Delivery](t)(s.ClaimDueDeliveries(ctx, at, 10, 30*time.Second))
	}
	d := claim(now)
	if len(d) != 1 || d[0].Event.ID != ev.ID || d[0].Event.ConnectionID != f.conn.ID {
		t.Fatalf("claimed %+v", d)
	}
	if len(claim(now)) != 0 {
		t.Fatal("leased delivery claimed again")
	}
	// A claimer that dies without recording an attempt loses the lease.
	if again := claim(now.Add(31 * time.Second)); len(again) != 1 || again[0].ID != d[0].ID {
		t.Fatalf("after lease expiry: %+v", again)
	}

	retry := now.Add(5 * time.Minute)
	a1 := must[Attempt](t)(s.RecordAttempt(ctx, d[0].ID, Attempt{At: now, StatusCode: 503, Duration: 1500 * time.Millisecond, Error: "503 Service Unavailable", NextRetry: &retry}))
	if a1.Number != 1 || a1.EventType != "sync.failed" || a1.EndpointID != ep.ID {
		t.Errorf("attempt %+v", a1)
	}
	if len(claim(now.Add(time.Minute))) != 0 {
		t.Error("claimed before the retry time")
	}
	d2 := claim(retry)
	if len(d2) != 1 || d2[0].Attempts != 1 {
		t.Fatalf("at retry time: %+v", d2)
	}
	must[Attempt](t)(s.RecordAttempt(ctx, d2[0].ID, Attempt{At: retry, Duration: 10 * time.Second, Error: "timeout", NextRetry: ptr(retry.Add(time.Hour))}))
	d3 := claim(retry.Add(time.Hour))
	a3 := must[Attempt](t)(s.RecordAttempt(ctx, d3[0].ID, Attempt{At: retry.Add(time.Hour), StatusCode: 204, Duration: 80 * time.Millisecond}))
	if a3.Number != 3 || a3.NextRetry != nil {
		t.Errorf("success attempt %+v", a3)
	}
	_, err = s.RecordAttempt(ctx, d3[0].ID, Attempt{StatusCode: 200})
	wantErr(t, err, ErrConflict, "attempt on a finished delivery")
	_, err = s.RecordAttempt(ctx, 987654, Attempt{StatusCode: 200})
	wantErr(t, err, ErrNotFound, "attempt on a missing delivery")
	if len(claim(retry.Add(48*time.Hour))) != 0 {
		t.Error("succeeded delivery claimed")
	}

	// Out of retries: failed for good.
	_, _, _ = s.EnqueueDeliveries(ctx, NewWebhookEvent{AccountID: acct, Type: "system.error"})
	d4 := claim(retry.Add(2 * time.Hour))
	must[Attempt](t)(s.RecordAttempt(ctx, d4[0].ID, Attempt{StatusCode: 410}))
	if len(claim(retry.Add(72*time.Hour))) != 0 {
		t.Error("failed delivery claimed")
	}

	var log []Attempt
	p := Page{Limit: 2}
	for {
		list, next, err := s.ListAttempts(ctx, acct, ep.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, list...)
		if next == "" {
			break
		}
		p.After = next
	}
	if len(log) != 4 || log[0].StatusCode != 410 || log[3].StatusCode != 503 || log[3].Duration != 1500*time.Millisecond ||
		log[3].NextRetry == nil || !log[3].NextRetry.Equal(retry) || log[2].StatusCode != 0 || log[2].Error != "timeout" {
		t.Errorf("attempt log %+v", log)
	}
}

func ptr[T any](v T) *T { return &v }

func testWebhookClaimExactlyOnce(t *testing.T, b backend) {
	ctx := context.Background()
	loc := b.fresh(t)
	clk := newFakeClock()
	s := b.open(t, loc, Options{Now: clk.Now})
	// A second relay replica: its own handle and connection pool on the
	// same database.
	replica := b.open(t, loc, Options{Now: clk.Now})
	f := newFixture(t, s, "acme")
	for i := range 3 {
		must[WebhookEndpoint](t)(s.CreateWebhookEndpoint(ctx, f.acct.ID, NewWebhookEndpoint{URL: fmt.Sprintf("https://r%d.example/h", i)}))
	}
	const events = 100
	for i := range events {
		if _, n, err := s.EnqueueDeliveries(ctx, NewWebhookEvent{AccountID: f.acct.ID, Type: "sync.completed", Payload: json.RawMessage(fmt.Sprint(i))}); err != nil || n != 3 {
			t.Fatalf("enqueue %d: %d, %v", i, n, err)
		}
	}
	now := clk.Now().Add(time.Second)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		claimed = map[int64]int{}
	)
	for c := range 8 {
		st := s
		if c%2 == 1 {
			st = replica
		}
		wg.Go(func() {
			for {
				list, err := st.ClaimDeliveries(ctx, DeliveryClaim{Now: now, Limit: 7, LeaseFor: time.Hour, PerEndpoint: c % 3})
				if err != nil {
					t.Errorf("claimer %d: %v", c, err)
					return
				}
				if len(list) == 0 {
					return
				}
				mu.Lock()
				for _, d := range list {
					if prev, ok := claimed[d.ID]; ok {
						t.Errorf("delivery %d claimed by %d and %d", d.ID, prev, c)
					}
					claimed[d.ID] = c
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != 3*events {
		t.Errorf("%d deliveries claimed, want %d", len(claimed), 3*events)
	}
}

func testWebhookSecretRotation(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")
	ep := must[WebhookEndpoint](t)(s.CreateWebhookEndpoint(ctx, f.acct.ID, NewWebhookEndpoint{URL: "https://x.example/h"}))
	old := ep.Secrets[0].Secret
	clk.Add(time.Minute)
	r := must[WebhookEndpoint](t)(s.RotateWebhookSecret(ctx, f.acct.ID, ep.ID, time.Hour))
	if len(r.Secrets) != 2 || r.Secrets[1].Secret != old || r.Secrets[0].Secret == old || r.Secrets[0].ExpiresAt != nil ||
		r.Secrets[1].ExpiresAt == nil || !r.Secrets[1].ExpiresAt.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("after rotation %+v", r.Secrets)
	}
	// Deliveries during the overlap carry both secrets.
	must2 := func(ev WebhookEvent, n int, err error) {
		t.Helper()
		if err != nil || n != 1 {
			t.Fatalf("enqueue: %d, %v", n, err)
		}
	}
	must2(s.EnqueueDeliveries(ctx, NewWebhookEvent{AccountID: f.acct.ID, Type: "sync.completed"}))
	if d := must[[]Delivery](t)(s.ClaimDueDeliveries(ctx, clk.Now(), 10, time.Minute)); len(d) != 1 || len(d[0].Secrets) != 2 {
		t.Fatalf("delivery during overlap %+v", d)
	}
	// A second rotation within the overlap does not extend the oldest
	// secret's life.
	clk.Add(30 * time.Minute)
	r2 := must[WebhookEndpoint](t)(s.RotateWebhookSecret(ctx, f.acct.ID, ep.ID, 2*time.Hour))
	if len(r2.Secrets) != 3 || !r2.Secrets[2].ExpiresAt.Equal(*r.Secrets[1].ExpiresAt) {
		t.Errorf("second rotation %+v", r2.Secrets)
	}
	clk.Add(3 * time.Hour)
	if g := must[WebhookEndpoint](t)(s.GetWebhookEndpoint(ctx, f.acct.ID, ep.ID)); len(g.Secrets) != 1 || g.Secrets[0].Secret != r2.Secrets[0].Secret {
		t.Errorf("after overlap %+v", g.Secrets)
	}
}

func testPrune(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")
	quiet := must[Connection](t)(s.CreateConnection(ctx, f.acct.ID, NewConnection{Name: "quiet", System: "mp2"}))
	start := clk.Now()
	add := func(conn string, at time.Time) {
		t.Helper()
		must[ConnectionEvent](t)(s.AddConnectionEvent(ctx, ConnectionEvent{ConnectionID: conn, AgentID: "a", Kind: "connect", At: at}))
	}
	for i := range 5 {
		add(quiet.ID, start.Add(-40*24*time.Hour+time.Duration(i)*time.Minute)) // all too old
	}
	add(quiet.ID, start.Add(-time.Hour))
	for i := range 30 {
		add(f.conn.ID, start.Add(time.Duration(i-30)*time.Minute))
	}
	must[BatchResult](t)(s.ApplyBatch(ctx, f.conn.ID, "old-batch", "work_orders", workOrders(f.conn.ID, 0, 1, "x"), ApplyOptions{}))
	must[*IdempotentResponse](t)(s.ReserveIdempotencyKey(ctx, f.acct.ID, "k", "fp"))
	must[WebhookEndpoint](t)(s.CreateWebhookEndpoint(ctx, f.acct.ID, NewWebhookEndpoint{URL: "https://x.example/h"}))
	_, _, _ = s.EnqueueDeliveries(ctx, NewWebhookEvent{AccountID: f.acct.ID, Type: "sync.completed"})

	clk.Add(25 * time.Hour)
	res := must[PruneResult](t)(s.Prune(ctx, PrunePolicy{
		EventsMaxAge: 30 * 24 * time.Hour, EventsKeepPerConnection: 10, BatchesMaxAge: 24 * time.Hour, WebhookEventsMaxAge: 24 * time.Hour}))
	if res.ConnectionEvents != 25 || res.Batches != 1 || res.IdempotencyKeys != 1 || res.WebhookEvents != 1 {
		t.Errorf("pruned %+v", res)
	}
	if list, _, _ := s.ListConnectionEvents(ctx, f.conn.ID, Page{Limit: 100}); len(list) != 10 || !list[0].At.Equal(start.Add(-time.Minute)) {
		t.Errorf("busy connection keeps %d events", len(list))
	}
	if list, _, _ := s.ListConnectionEvents(ctx, quiet.ID, Page{Limit: 100}); len(list) != 1 {
		t.Errorf("quiet connection keeps %d events", len(list))
	}
	// A forgotten batch id applies again, harmlessly.
	if r := must[BatchResult](t)(s.ApplyBatch(ctx, f.conn.ID, "old-batch", "work_orders", workOrders(f.conn.ID, 0, 1, "x"), ApplyOptions{})); r.Duplicate || r.Changed != 0 {
		t.Errorf("re-applied pruned batch %+v", r)
	}
	if d := must[[]Delivery](t)(s.ClaimDueDeliveries(ctx, clk.Now(), 10, time.Minute)); len(d) != 0 {
		t.Errorf("deliveries of a pruned event: %+v", d)
	}
	must[struct{}](t)(struct{}{}, s.Ping(ctx))
	must[struct{}](t)(struct{}{}, s.Close())
	must[struct{}](t)(struct{}{}, s.Close())
	if err := s.Ping(ctx); err == nil {
		t.Error("ping after close succeeded")
	}
}

func testWebhookClaimPerEndpoint(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")
	var eps []WebhookEndpoint
	for i := range 3 {
		eps = append(eps, must[WebhookEndpoint](t)(s.CreateWebhookEndpoint(ctx, f.acct.ID,
			NewWebhookEndpoint{URL: fmt.Sprintf("https://e%d.example/h", i), EventTypes: []string{fmt.Sprint("t", i)}})))
	}
	// A backlog of 20 on endpoint 0, queued first, then 4 each on the
	// others.
	enqueue := func(typ string, n int) {
		for range n {
			if _, k, err := s.EnqueueDeliveries(ctx, NewWebhookEvent{AccountID: f.acct.ID, Type: typ}); err != nil || k != 1 {
				t.Fatalf("enqueue %s: %d, %v", typ, k, err)
			}
			clk.Add(time.Millisecond)
		}
	}
	enqueue("t0", 20)
	enqueue("t1", 4)
	enqueue("t2", 4)
	now := clk.Now()
	count := func(list []Delivery) map[string]int {
		m := map[string]int{}
		for _, d := range list {
			m[d.EndpointID]++
		}
		return m
	}
	got := count(must[[]Delivery](t)(s.ClaimDeliveries(ctx, DeliveryClaim{Now: now, Limit: 10, LeaseFor: time.Minute, PerEndpoint: 3})))
	if got[eps[0].ID] != 3 || got[eps[1].ID] != 3 || got[eps[2].ID] != 3 {
		t.Errorf("per-endpoint claim: %v", got)
	}
	got = count(must[[]Delivery](t)(s.ClaimDeliveries(ctx, DeliveryClaim{Now: now, Limit: 10, LeaseFor: time.Minute, PerEndpoint: 5,
		SkipEndpoints: []string{eps[0].ID}})))
	if got[eps[0].ID] != 0 || got[eps[1].ID] != 1 || got[eps[2].ID] != 1 {
		t.Errorf("claim skipping endpoint 0: %v", got)
	}
	got = count(must[[]Delivery](t)(s.ClaimDeliveries(ctx, DeliveryClaim{Now: now, Limit: 100, LeaseFor: time.Minute})))
	if got[eps[0].ID] != 17 || len(got) != 1 {
		t.Errorf("unlimited claim: %v", got)
	}
	_, err := s.ClaimDeliveries(ctx, DeliveryClaim{Now: now, Limit: 1, LeaseFor: time.Minute, PerEndpoint: -1})
	wantErr(t, err, ErrInvalid, "negative per-endpoint limit")
}

func testWebhookHealth(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")
	ep := must[WebhookEndpoint](t)(s.CreateWebhookEndpoint(ctx, f.acct.ID, NewWebhookEndpoint{URL: "https://x.example/h"}))
	if h := ep.Health; h != (WebhookHealth{}) {
		t.Errorf("new endpoint health %+v", h)
	}
	enqueue := func() {
		t.Helper()
		if _, _, err := s.EnqueueDeliveries(ctx, NewWebhookEvent{AccountID: f.acct.ID, Type: "sync.completed"}); err != nil {
			t.Fatal(err)
		}
	}
	// attempt claims the next due delivery and records an attempt with
	// code; a failure is retried a minute later.
	attempt := func(code int) Attempt {
		t.Helper()
		d := must[[]Delivery](t)(s.ClaimDueDeliveries(ctx, clk.Now(), 1, time.Minute))
		if len(d) != 1 {
			t.Fatalf("claimed %d", len(d))
		}
		a := Attempt{At: clk.Now(), StatusCode: code}
		if code >= 300 {
			a.Error = "failed"
			a.NextRetry = ptr(clk.Now().Add(time.Minute))
		}
		a = must[Attempt](t)(s.RecordAttempt(ctx, d[0].ID, a))
		clk.Add(time.Minute)
		return a
	}
	enqueue()
	ok := attempt(200)
	enqueue()
	first := attempt(500)
	attempt(502)
	h := must[WebhookEndpoint](t)(s.GetWebhookEndpoint(ctx, f.acct.ID, ep.ID)).Health
	if h.LastSuccessAt == nil || !h.LastSuccessAt.Equal(ok.At) || h.FailingSince == nil || !h.FailingSince.Equal(first.At) ||
		h.ConsecutiveFailures != 2 || h.LastFailureAt == nil || !h.LastFailureAt.Equal(first.At.Add(time.Minute)) {
		t.Errorf("health after a success and two failures: %+v", h)
	}

	// A delivery whose first attempt failed, then another delivery
	// succeeded: the endpoint has not failed all along.
	enqueue()
	attempt(503) // the first delivery, again
	mixed2 := attempt(503)
	if mixed2.DeliveryID == first.DeliveryID {
		t.Fatal("expected the second delivery")
	}
	must[Attempt](t)(s.RecordAttempt(ctx, first.DeliveryID, Attempt{At: clk.Now(), StatusCode: 204}))
	if len(must[[]Delivery](t)(s.ClaimDueDeliveries(ctx, clk.Now(), 1, time.Minute))) != 1 {
		t.Fatal("second delivery not due")
	}
	clk.Add(time.Minute)
	last := must[Attempt](t)(s.RecordAttempt(ctx, mixed2.DeliveryID, Attempt{At: clk.Now(), StatusCode: 500, Error: "failed"}))
	if e, disabled, err := s.DisableFailingWebhookEndpoint(ctx, last.DeliveryID, "down"); err != nil || disabled || !e.Enabled {
		t.Errorf("disabled although another delivery succeeded: %v, %v", disabled, err)
	}

	// Failing from a delivery's first attempt to its last: two replicas
	// notice at once, one disables.
	enqueue()
	a1 := attempt(500)
	d := must[[]Delivery](t)(s.ClaimDueDeliveries(ctx, clk.Now(), 1, time.Minute))
	must[Attempt](t)(s.RecordAttempt(ctx, d[0].ID, Attempt{At: clk.Now(), StatusCode: 500, Error: "failed"}))
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			e, disabled, err := s.DisableFailingWebhookEndpoint(ctx, a1.DeliveryID, "failing for 24h")
			if err != nil || e.Enabled || e.Health.DisabledReason != "failing for 24h" || e.AccountID != f.acct.ID {
				t.Errorf("disable: %+v, %v", e, err)
			}
			if disabled {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d callers disabled the endpoint, want 1", wins.Load())
	}
	_, _, err := s.DisableFailingWebhookEndpoint(ctx, 987654, "x")
	wantErr(t, err, ErrNotFound, "disable for a missing delivery")

	// Enabling starts afresh; disabling by request records its reason.
	on, off := true, false
	e := must[WebhookEndpoint](t)(s.UpdateWebhookEndpoint(ctx, f.acct.ID, ep.ID, WebhookEndpointUpdate{Enabled: &on}))
	if !e.Enabled || e.Health.FailingSince != nil || e.Health.ConsecutiveFailures != 0 || e.Health.DisabledReason != "" ||
		e.Health.DisabledAt != nil || e.Health.LastSuccessAt == nil {
		t.Errorf("re-enabled: %+v", e.Health)
	}
	e = must[WebhookEndpoint](t)(s.UpdateWebhookEndpoint(ctx, f.acct.ID, ep.ID, WebhookEndpointUpdate{Enabled: &off, DisabledReason: "paused"}))
	if e.Enabled || e.Health.DisabledReason != "paused" || e.Health.DisabledAt == nil {
		t.Errorf("disabled by request: %+v", e.Health)
	}
}

func testWebhookRecordAttempts(t *testing.T, b backend) {
	ctx := context.Background()
	s, clk := newStore(t, b)
	f := newFixture(t, s, "acme")
	ep := must[WebhookEndpoint](t)(s.CreateWebhookEndpoint(ctx, f.acct.ID, NewWebhookEndpoint{URL: "https://x.example/h"}))
	for range 3 {
		if _, _, err := s.EnqueueDeliveries(ctx, NewWebhookEvent{AccountID: f.acct.ID, Type: "sync.completed"}); err != nil {
			t.Fatal(err)
		}
	}
	d := must[[]Delivery](t)(s.ClaimDueDeliveries(ctx, clk.Now(), 10, time.Minute))
	if len(d) != 3 {
		t.Fatalf("claimed %d", len(d))
	}
	must[Attempt](t)(s.RecordAttempt(ctx, d[2].ID, Attempt{StatusCode: 200}))
	retry := clk.Now().Add(time.Minute)
	list, errs, err := s.RecordAttempts(ctx, []AttemptRecord{
		{DeliveryID: d[0].ID, Attempt: Attempt{StatusCode: 200, Duration: time.Millisecond}},
		{DeliveryID: d[2].ID, Attempt: Attempt{StatusCode: 200}}, // already succeeded
		{DeliveryID: 987654, Attempt: Attempt{StatusCode: 200}},
		{DeliveryID: d[1].ID, Attempt: Attempt{StatusCode: 500, Error: "HTTP 500", NextRetry: &retry}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, errs[1], ErrConflict, "finished delivery in a batch")
	wantErr(t, errs[2], ErrNotFound, "missing delivery in a batch")
	if errs[0] != nil || errs[3] != nil || list[0].Number != 1 || list[0].DeliveryID != d[0].ID || list[3].Number != 1 ||
		list[3].NextRetry == nil || list[0].ID == 0 || list[3].ID == 0 {
		t.Errorf("batch: %+v %v", list, errs)
	}
	if log := must[[]Attempt](t)(func() ([]Attempt, error) {
		l, _, err := s.ListAttempts(ctx, f.acct.ID, ep.ID, Page{})
		return l, err
	}()); len(log) != 3 {
		t.Errorf("%d attempts logged, want 3", len(log))
	}
	h := must[WebhookEndpoint](t)(s.GetWebhookEndpoint(ctx, f.acct.ID, ep.ID)).Health
	if h.ConsecutiveFailures != 1 || h.LastSuccessAt == nil {
		t.Errorf("health %+v", h)
	}
}

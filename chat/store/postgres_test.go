package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/chat/store/storetest"
)

const defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func postgresDSN() string {
	if dsn := os.Getenv("DAOGOU_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return defaultPostgres
}

// reachable connects once per test binary.
var reachable = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, postgresDSN())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
})

// shownDSN is the DSN without its password, for messages.
func shownDSN() string {
	if u, err := url.Parse(postgresDSN()); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "the DSN in DAOGOU_TEST_POSTGRES"
}

// needPostgres skips t without a server, or fails it on CI.
func needPostgres(t testing.TB) {
	t.Helper()
	if err := reachable(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL not reachable at %s (set DAOGOU_TEST_POSTGRES): %v", shownDSN(), err)
		}
		t.Skipf("PostgreSQL not reachable at %s: set DAOGOU_TEST_POSTGRES or start it (%v)", shownDSN(), err)
	}
}

// withSearchPath adds search_path=schema to a URL or key=value DSN.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openPostgres opens a store in a new schema of its own, dropped at cleanup.
// It returns the schema's name too.
func openPostgres(t testing.TB, opts store.PoolOptions, log *zap.Logger) (*store.Postgres, string) {
	t.Helper()
	needPostgres(t)
	ctx := context.Background()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, postgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	s, err := store.OpenPostgres(ctx, withSearchPath(t, postgresDSN(), schema), opts, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, schema
}

func TestPostgres(t *testing.T) {
	needPostgres(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openPostgres(t, store.PoolOptions{MaxConns: 4}, zaptest.NewLogger(t))
		return s
	})
}

// TestPostgresCarriedTimers: the steps of TestSQLiteCarriedTimers (every
// Apply reads the conversation back under its lock).
func TestPostgresCarriedTimers(t *testing.T) {
	s, _ := openPostgres(t, store.PoolOptions{MaxConns: 4}, zaptest.NewLogger(t))
	carriedTimers(t, s, nil)
}

// TestPostgresMigrateOnce opens a second store on the same schema: the
// migrations are recorded and not applied again.
func TestPostgresMigrateOnce(t *testing.T) {
	ctx := context.Background()
	s, schema := openPostgres(t, store.PoolOptions{}, zaptest.NewLogger(t))
	conn, err := pgx.Connect(ctx, postgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := s.CreateVisitor(ctx, store.Visitor{ID: "v1", CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	again, err := store.OpenPostgres(ctx, withSearchPath(t, postgresDSN(), schema),
		store.PoolOptions{MaxConns: 2, MinConns: 1, MaxConnLifetime: time.Hour, MaxConnIdleTime: time.Minute}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if _, err := again.Visitor(ctx, "v1"); err != nil {
		t.Fatalf("the second store does not see the first's data: %v", err)
	}
	var versions []int
	rows, err := conn.Query(ctx, "SELECT version FROM "+schema+".schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	if versions, err = pgx.CollectRows(rows, pgx.RowTo[int]); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(versions, []int{1, 2, 3}) {
		t.Fatalf("schema_migrations = %v, want [1 2 3], each once", versions)
	}
}

func BenchmarkPostgresAppend(b *testing.B) {
	s, _ := openPostgres(b, store.PoolOptions{MaxConns: 16}, zap.NewNop())
	benchAppend(b, s)
}

func BenchmarkPostgresStart(b *testing.B) {
	s, _ := openPostgres(b, store.PoolOptions{MaxConns: 16}, zap.NewNop())
	benchStart(b, s)
}

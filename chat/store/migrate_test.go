package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap/zaptest"
)

func TestReadMigrations(t *testing.T) {
	file := func(sql string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(sql)} }
	for _, tc := range []struct {
		name     string
		files    fstest.MapFS
		versions []int
		fails    bool
	}{
		{"in version order", fstest.MapFS{
			"m/0010_c.sql": file("c"), "m/0001_a.sql": file("a"), "m/0002_b.sql": file("b"),
			"m/README.md": file("not a step"), "m/old/0003_x.sql": file("in a folder"),
		}, []int{1, 2, 10}, false},
		{"no version", fstest.MapFS{"m/init.sql": file("a")}, nil, true},
		{"version zero", fstest.MapFS{"m/0000_init.sql": file("a")}, nil, true},
		{"no underscore", fstest.MapFS{"m/0001init.sql": file("a")}, nil, true},
		{"same version twice", fstest.MapFS{"m/0001_a.sql": file("a"), "m/1_b.sql": file("b")}, nil, true},
		{"empty", fstest.MapFS{"m/README.md": file("x")}, nil, true},
		{"no folder", fstest.MapFS{}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps, err := readMigrations(tc.files, "m")
			if tc.fails {
				if err == nil {
					t.Fatalf("read %v, want an error", steps)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range steps {
				got = append(got, m.version)
			}
			if !reflect.DeepEqual(got, tc.versions) {
				t.Fatalf("versions %v, want %v", got, tc.versions)
			}
		})
	}
}

func TestEmbeddedMigrations(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		steps, err := loadMigrations(backend)
		if err != nil {
			t.Fatal(err)
		}
		if steps[0].version != 1 || steps[0].name != "0001_init.sql" {
			t.Fatalf("%s starts with %s", backend, steps[0].name)
		}
	}
}

// TestMigrateSQLiteLater applies a second step to a database that has the
// first, and nothing when both are recorded.
func TestMigrateSQLiteLater(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	log := zaptest.NewLogger(t)
	first := migration{1, "0001_a.sql", "CREATE TABLE a (x INTEGER);"}
	second := migration{2, "0002_b.sql", "CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (7);"}
	broken := migration{3, "0003_c.sql", "CREATE TABLE c (z INTEGER); NOT SQL;"}
	for _, tc := range []struct {
		name     string
		steps    []migration
		fails    bool
		versions []int
	}{
		{"first", []migration{first}, false, []int{1}},
		{"then the second", []migration{first, second}, false, []int{1, 2}},
		{"again: nothing", []migration{first, second}, false, []int{1, 2}},
		{"a broken third leaves no trace", []migration{first, second, broken}, true, []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := migrateSQLite(ctx, conn, tc.steps, log)
			if (err != nil) != tc.fails {
				t.Fatalf("migrate: %v, want failure %v", err, tc.fails)
			}
			rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations ORDER BY version")
			if err != nil {
				t.Fatal(err)
			}
			got, err := collect(rows, func(sc scanner) (int, error) {
				var v int
				return v, sc.Scan(&v)
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.versions) {
				t.Fatalf("schema_migrations %v, want %v", got, tc.versions)
			}
		})
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM a").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the second step ran %d times (%v), want once", n, err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'c'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the broken step left table c (%d, %v)", n, err)
	}
}

// TestMigrateSQLiteLeanWrites upgrades a database that holds rule events
// from the first schema: the events stay, new ones get higher ids, and the
// index nobody read is gone.
func TestMigrateSQLiteLeanWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path+"?_foreign_keys=1")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := loadMigrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateSQLite(ctx, conn, steps[:1], zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"INSERT INTO visitors (id, token_hash, name, created_at) VALUES ('v1', 'h', 'Ann', 1)",
		"INSERT INTO conversations (id, visitor_id, visitor_name, state, agent_id, locale, topic, opened_at, outcome) VALUES ('c1', 'v1', 'Ann', 'assigned', 'a1', 'en', '', 1, '')",
		"INSERT INTO events (conversation_id, agent_id, rule, kind, action, elapsed_ms, at) VALUES ('c1', 'a1', 'greeting', 'met', '', 900, 1000)",
		"INSERT INTO events (conversation_id, agent_id, rule, kind, action, elapsed_ms, at) VALUES ('c1', 'a1', 'first_response', 'breached', 'holding_reply', 3000, 2000)",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close()
	db.Close()

	s, err := OpenSQLite(ctx, path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Apply(ctx, "c1", func(*Conversation) (Edit, error) {
		return Edit{Events: []Event{{AgentID: "a1", Rule: "first_response", Kind: "met", Elapsed: time.Second, At: time.UnixMilli(2000)}}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	rows, err := s.rdb.QueryContext(ctx, "SELECT id FROM events ORDER BY at, id")
	if err != nil {
		t.Fatal(err)
	}
	ids, err = collect(rows, func(sc scanner) (int64, error) {
		var id int64
		return id, sc.Scan(&id)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids, []int64{1, 2, 3}) {
		t.Fatalf("event ids %v, want the two kept and the new one after them", ids)
	}
	evs, err := s.Events(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].Rule != "greeting" || evs[1].Action != "holding_reply" || evs[2].Kind != "met" {
		t.Fatalf("events after the upgrade: %+v", evs)
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'conversations_state'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("conversations_state still there (%d, %v)", n, err)
	}
}

package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"

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

package store

import "context"

// QueueLen is how many writes wait for the SQLite writer.
func QueueLen(s *SQLite) int { return len(s.reqs) }

// Closing reports whether Close has begun.
func Closing(s *SQLite) bool { return s.shut.Load() }

// WriterPragma reads a PRAGMA on the write connection, through the writer.
func WriterPragma(s *SQLite, name string) (string, error) {
	var v string
	err := s.write(context.Background(), func(w *writer) error {
		return w.conn.QueryRowContext(context.Background(), "PRAGMA "+name).Scan(&v)
	})
	return v, err
}

// Checkpoint runs the checkpointer's passive checkpoint now.
func Checkpoint(s *SQLite) (logPages, moved int, err error) { return s.checkpoint() }

// CarefulBatches is how many batches keep savepoints after a replay.
const CarefulBatches = carefulBatches

// PGQueueLen is how many writes wait for the PostgreSQL writers.
func PGQueueLen(p *Postgres) int { return len(p.reqs) }

// PGChained is how many batches began in the round trip of the commit
// before theirs.
func PGChained(p *Postgres) uint64 { return p.chained.Load() }

package store

// QueueLen is how many writes wait for the SQLite writer.
func QueueLen(s *SQLite) int { return len(s.reqs) }

// Closing reports whether Close has begun.
func Closing(s *SQLite) bool { return s.shut.Load() }

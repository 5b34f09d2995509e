package store

import "errors"

// ErrClosed: the store was closed; nothing more is read or written.
var ErrClosed = errors.New("store: closed")

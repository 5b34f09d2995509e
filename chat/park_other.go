//go:build !linux

package chat

import "errors"

// parker needs epoll: elsewhere every session keeps a reader goroutine.
type parker struct{}

func newParker() (*parker, error) { return nil, errors.New("parking idle sessions needs Linux epoll") }

func (p *parker) run(func(*Session)) {}
func (p *parker) stop()              {}
func (p *parker) arm(*Session) error { return errors.New("no epoll") }
func (p *parker) forget(*Session)    {}

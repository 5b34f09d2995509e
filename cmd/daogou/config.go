package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/daogou/daogou/chat"
	"github.com/daogou/daogou/chat/rules"
	"github.com/daogou/daogou/chat/store"
)

// config is every setting; each is a flag and a DAOGOU_* environment
// variable (the flag name upper-cased, dashes as underscores). A flag given
// on the command line wins over the environment.
type config struct {
	Addr           string
	DataDir        string
	Redis          string
	RedisPrefix    string
	Postgres       string
	Rules          rules.Config
	ReconnectGrace time.Duration
	DemoPassword   string
	Demo           bool
	AllowedOrigins string
	LogLevel       string
	LogFormat      string
	ScriptsDir     string
	ShopName       string
	DefaultLocale  string
	Capacity       int
	PG             store.PoolOptions
	PprofAddr      string
	ShutdownWait   time.Duration

	pgConns func()
}

func defineFlags(fs *flag.FlagSet, c *config) {
	hub := chat.DefaultConfig()
	fs.StringVar(&c.Addr, "addr", ":8080", "listen address")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory of the embedded SQLite store")
	fs.StringVar(&c.Redis, "redis", "", "Redis URL (redis://host:6379/0); none: in-memory broker, one instance")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "daogou:", "prefix of every Redis key and channel (instances that share it form one cluster)")
	fs.StringVar(&c.Postgres, "postgres", "", "PostgreSQL URL; none: the embedded SQLite store")
	fs.DurationVar(&c.Rules.GreetingDeadline, "greeting-deadline", hub.Rules.GreetingDeadline, "greet a new shopper within this")
	fs.DurationVar(&c.Rules.AutoGreetMargin, "auto-greet-margin", hub.Rules.AutoGreetMargin, "the server greets this long before the greeting deadline (at most a fifth of it)")
	fs.DurationVar(&c.Rules.FirstResponseDeadline, "first-response-deadline", hub.Rules.FirstResponseDeadline, "answer each shopper turn within this")
	fs.DurationVar(&c.Rules.ReassignDeadline, "reassign-deadline", hub.Rules.ReassignDeadline, "offer a turn to another agent after this silence")
	fs.DurationVar(&c.ReconnectGrace, "reconnect-grace", hub.ReconnectGrace, "how long an agent may be disconnected before its conversations move")
	fs.StringVar(&c.DemoPassword, "demo-password", "", "password of the demo accounts (random when empty, logged once)")
	fs.BoolVar(&c.Demo, "demo", true, "with the embedded store, create the demo accounts")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", "", "comma-separated origins allowed to open WebSockets besides the server's own (* for any)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "console", "console or json")
	fs.StringVar(&c.ScriptsDir, "scripts-dir", "", "a directory of script files replacing the built-in library")
	fs.StringVar(&c.ShopName, "shop-name", hub.ShopName, "the shop's name in scripts")
	fs.StringVar(&c.DefaultLocale, "default-locale", hub.DefaultLocale, "locale of shoppers who name none (zh-CN or en)")
	fs.IntVar(&c.Capacity, "default-capacity", hub.DefaultCapacity, "conversations an agent holds at once unless set otherwise")
	var maxConns, minConns int
	fs.IntVar(&maxConns, "pg-max-conns", 0, "PostgreSQL pool: most connections (0: pgx default)")
	fs.IntVar(&minConns, "pg-min-conns", 0, "PostgreSQL pool: connections kept open")
	fs.DurationVar(&c.PG.MaxConnLifetime, "pg-max-conn-lifetime", 0, "PostgreSQL pool: a connection's longest life (0: pgx default)")
	fs.DurationVar(&c.PG.MaxConnIdleTime, "pg-max-conn-idle", 0, "PostgreSQL pool: longest idle time (0: pgx default)")
	fs.IntVar(&c.PG.Writers, "pg-writers", 0, "PostgreSQL: transactions of batched writes at once (0: one)")
	fs.StringVar(&c.PprofAddr, "pprof-addr", "", "admin listener for /debug/pprof (off when empty; bind it to localhost)")
	fs.DurationVar(&c.ShutdownWait, "shutdown-wait", 10*time.Second, "how long SIGTERM waits for sessions and the store")
	c.pgConns = func() { c.PG.MaxConns, c.PG.MinConns = int32(maxConns), int32(minConns) }
}

// parse reads the environment, then the command line.
func parse(fs *flag.FlagSet, c *config, args []string, env func(string) string) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "DAOGOU_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := env(name); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.pgConns()
	return c.check()
}

func (c *config) check() error {
	if c.Redis != "" && c.Postgres == "" {
		return fmt.Errorf("--redis needs --postgres: instances share their store")
	}
	if c.Rules.GreetingDeadline <= 0 || c.Rules.FirstResponseDeadline <= 0 || c.Rules.ReassignDeadline <= 0 || c.Rules.AutoGreetMargin < 0 {
		return fmt.Errorf("deadlines must be positive")
	}
	if c.DefaultLocale != "zh-CN" && c.DefaultLocale != "en" {
		return fmt.Errorf("--default-locale is zh-CN or en")
	}
	if c.Capacity < 1 {
		return fmt.Errorf("--default-capacity must be at least 1")
	}
	return nil
}

func (c *config) hubConfig() chat.Config {
	h := chat.DefaultConfig()
	h.Rules = c.Rules
	h.ReconnectGrace = c.ReconnectGrace
	h.ShopName = c.ShopName
	h.DefaultLocale = c.DefaultLocale
	h.DefaultCapacity = c.Capacity
	for _, o := range strings.Split(c.AllowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			h.AllowedOrigins = append(h.AllowedOrigins, o)
		}
	}
	return h
}

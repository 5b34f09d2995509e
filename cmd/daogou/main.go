// Command daogou runs the Daogou live-chat shopping assistant.
//
//	daogou [flags]              run the server (see -h for the settings)
//	daogou agent add [flags]    create an agent or supervisor account
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/daogou/daogou/chat"
	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/frontend"
	"github.com/daogou/daogou/scripts"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "daogou:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) >= 2 && args[0] == "agent" && args[1] == "add" {
		return agentAdd(args[2:])
	}
	var c config
	fs := flag.NewFlagSet("daogou", flag.ContinueOnError)
	defineFlags(fs, &c)
	if err := parse(fs, &c, args, os.Getenv); err != nil {
		return err
	}
	log, err := newLogger(c.LogLevel, c.LogFormat)
	if err != nil {
		return err
	}
	defer log.Sync()
	return serve(c, log)
}

func newLogger(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	if format == "console" {
		cfg = zap.NewDevelopmentConfig()
		cfg.Development = false
		cfg.DisableStacktrace = true
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return cfg.Build()
}

// openStore opens PostgreSQL when configured, the SQLite file otherwise.
func openStore(ctx context.Context, c config, log *zap.Logger) (store.Store, error) {
	if c.Postgres != "" {
		return store.OpenPostgres(ctx, c.Postgres, c.PG, log.Named("postgres"))
	}
	// SQLite's writer blocks its thread in fsync. With one P the core then
	// idles until the runtime hands the P to another thread (up to 10 ms
	// later); a second P runs the sessions meanwhile (measured in
	// docs/benchmarks.md: relay p50 65 → 13 ms on one core). An explicit
	// GOMAXPROCS is kept.
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
		log.Info("two Ps on one core, for the store's fsync")
	}
	return store.OpenSQLite(ctx, filepath.Join(c.DataDir, "daogou.db"), log.Named("sqlite"))
}

// cluster is the broker and the directory: in memory for one instance, on
// Redis for many. close releases what it opened.
func openCluster(c config, instance string, log *zap.Logger) (chat.Broker, chat.Directory, func(), error) {
	if c.Redis == "" {
		return chat.NewMemoryBroker(), chat.NewMemoryDirectory(), func() {}, nil
	}
	opts, err := redis.ParseURL(c.Redis)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--redis: %w", err)
	}
	rdb := redis.NewClient(opts)
	broker := chat.NewRedisBrokerClient(rdb, c.RedisPrefix, log.Named("redis"))
	dir := chat.NewRedisDirectory(rdb, c.RedisPrefix, instance, log.Named("directory"))
	return broker, dir, func() { broker.Close(); rdb.Close() }, nil
}

func loadScripts(dir string) (*scripts.Library, error) {
	if dir == "" {
		return scripts.Embedded()
	}
	lib, err := scripts.Load(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("scripts in %s: %w", dir, err)
	}
	return lib, nil
}

func serve(c config, log *zap.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	lib, err := loadScripts(c.ScriptsDir)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, c, log)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer st.Close()
	hcfg := c.hubConfig()
	hcfg.Instance = instanceName()
	broker, dir, closeCluster, err := openCluster(c, hcfg.Instance, log)
	if err != nil {
		return err
	}
	defer closeCluster()

	hub := chat.NewHub(hcfg, chat.Deps{Store: st, Broker: broker, Directory: dir, Scripts: lib, Log: log.Named("chat").With(zap.String("instance", hcfg.Instance))})
	if c.Postgres == "" && c.Demo {
		if err := ensureDemo(ctx, hub, st, c.DemoPassword, log); err != nil {
			return fmt.Errorf("demo accounts: %w", err)
		}
	}
	if err := hub.Start(ctx); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	web, err := fs.Sub(frontend.Files, ".")
	if err != nil {
		return err
	}
	e := chat.NewServer(hub, web)
	// No TCP keep-alive on accepted sockets (four setsockopt calls per
	// connection): WebSocket sessions have the hub's pings, and an idle
	// HTTP connection is closed after IdleTimeout.
	ln, err := (&net.ListenConfig{KeepAlive: -1}).Listen(ctx, "tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	// WebSocket handshakes are served by the Front itself; the rest by srv.
	front := chat.NewFront(ln, e, srv.ReadHeaderTimeout, log.Named("front"))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(front) }()
	if c.PprofAddr != "" {
		go servePprof(c.PprofAddr, log)
	}
	log.Info("daogou listening", zap.String("addr", c.Addr), zap.Bool("redis", c.Redis != ""), zap.Bool("postgres", c.Postgres != ""),
		zap.String("demo", "http://localhost"+portOf(c.Addr)+"/demo"))

	select {
	case err := <-errc:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownWait)
	defer cancel()
	done := make(chan struct{})
	go func() {
		_ = srv.Shutdown(sctx) // stop accepting; upgraded sockets are the hub's
		close(done)
	}()
	if err := hub.Shutdown(sctx); err != nil {
		log.Warn("sessions did not all end in time", zap.Error(err))
	}
	<-done
	if err := st.Close(); err != nil {
		log.Error("store close", zap.Error(err))
	}
	log.Info("stopped")
	return nil
}

// instanceName is this process's name in a cluster: host, pid and a random
// suffix (a restarted process is a new instance).
func instanceName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i:]
		}
	}
	return ""
}

// servePprof serves the profiler on an admin-only listener.
func servePprof(addr string, log *zap.Logger) {
	log.Info("pprof listening", zap.String("addr", addr))
	if err := http.ListenAndServe(addr, adminMux()); err != nil {
		log.Error("pprof", zap.Error(err))
	}
}

// adminMux is the admin listener's routes: the profiler, and
// /debug/free-os-memory, which collects garbage and returns the freed
// memory to the system at once (what the runtime otherwise does over
// minutes), so that RSS read afterwards is what the live sessions hold.
func adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("POST /debug/free-os-memory", func(w http.ResponseWriter, _ *http.Request) {
		debug.FreeOSMemory()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(w, "heap_inuse_bytes %d\nstack_inuse_bytes %d\nheap_released_bytes %d\n", m.HeapInuse, m.StackInuse, m.HeapReleased)
	})
	return mux
}

// demoAccounts are created in demo mode.
var demoAccounts = []struct{ email, name, role string }{
	{"agent1@demo.local", "Mei", chat.AccountAgent},
	{"agent2@demo.local", "Jie", chat.AccountAgent},
	{"supervisor@demo.local", "Supervisor Wang", chat.AccountSupervisor},
}

// ensureDemo creates the demo accounts (or resets their password) and logs
// the password once.
func ensureDemo(ctx context.Context, hub *chat.Hub, st store.Store, password string, log *zap.Logger) error {
	if password == "" {
		b := make([]byte, 9)
		_, _ = rand.Read(b)
		password = base64.RawURLEncoding.EncodeToString(b)
	}
	hash, err := hub.HashPassword(password)
	if err != nil {
		return err
	}
	for _, d := range demoAccounts {
		a, err := st.AgentByEmail(ctx, d.email)
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, err = hub.CreateAccount(ctx, d.email, d.name, password, d.role, []string{"zh-CN", "en"}, 0)
		case err == nil:
			a.PasswordHash = hash
			err = st.UpdateAgent(ctx, a)
		}
		if err != nil {
			return err
		}
	}
	log.Info("demo accounts ready (this password is shown once)",
		zap.Strings("accounts", []string{demoAccounts[0].email, demoAccounts[1].email, demoAccounts[2].email}),
		zap.String("password", password))
	return nil
}

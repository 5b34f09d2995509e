// Command daogou-load is Daogou's load generator. It speaks only the public
// contract (PROTOCOL.md and the documented extensions), like any outside
// client: shoppers on /ws/shopper, load agents (created through the API by
// a supervisor) on /ws/agent.
//
//	daogou-load idle  --sessions 19000 --duration 60s --server-pid $PID
//	daogou-load relay --conversations 5000 --rate 5000 --supervisor-password … --server-pid $PID
//	daogou-load rules --conversations 5000 --supervisor-password …
//
// Progress goes to stderr every second; the result is a table on stdout,
// or JSON with --json.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// modes runs each mode, filling in the result.
var modes = map[string]func(ctx context.Context, r *run, res *result) error{
	modeIdle:  runIdle,
	modeRelay: runRelay,
	modeRules: runRules,
}

func realMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "daogou-load:", err)
		return 2
	}
	log := newLogger(stderr)
	defer func() { _ = log.Sync() }()

	res := &result{Mode: cfg.Mode, Command: "daogou-load " + strings.Join(redact(args), " "), Started: time.Now().UTC(), SourceIPs: len(cfg.SourceIPs)}
	for _, u := range cfg.URLs {
		res.Targets = append(res.Targets, u.String())
	}
	if res.NoFile, err = raiseNoFile(); err != nil {
		log.Error("could not raise the open-files limit", zap.Error(err))
	}
	if need := uint64(cfg.Sessions + cfg.Agents + 64); cfg.Mode == modeIdle && res.NoFile > 0 && need > res.NoFile {
		res.warn(fmt.Sprintf("%d sessions need about %d open files; this process may open %d", cfg.Sessions, need, res.NoFile))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	r := newRun(cfg, log, stderr)
	start := time.Now()
	err = modes[cfg.Mode](ctx, r, res)
	res.WallSeconds = time.Since(start).Seconds()
	code := 0
	if err != nil {
		log.Error("run failed", zap.String("mode", cfg.Mode), zap.Error(err))
		res.Error = err.Error()
		code = 1
	}
	if cfg.JSONPath != "" {
		if err := writeJSON(res, cfg.JSONPath, stdout); err != nil {
			log.Error("could not write the JSON result", zap.Error(err))
			code = 1
		}
	}
	if cfg.JSONPath != "-" {
		if err := writeTable(res, stdout); err != nil {
			log.Error("could not write the table", zap.Error(err))
			code = 1
		}
	}
	return code
}

// secretFlags are left out of the command line the result records.
var secretFlags = []string{"supervisor-password", "agent-password"}

// redact hides the values of secretFlags in a command line.
func redact(args []string) []string {
	out := make([]string, len(args))
	hideNext := false
	for i, a := range args {
		out[i] = a
		if hideNext {
			out[i], hideNext = "***", false
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !slices.Contains(secretFlags, name) {
			continue
		}
		if hasValue {
			out[i] = a[:strings.Index(a, "=")+1] + "***"
		} else {
			hideNext = true
		}
	}
	return out
}

// newLogger logs errors only, to stderr, in zap's console encoding.
func newLogger(w io.Writer) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), zapcore.ErrorLevel)
	return zap.New(core).Named("daogou-load")
}

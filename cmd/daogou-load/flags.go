package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Modes of a run.
const (
	modeIdle  = "idle"
	modeRelay = "relay"
	modeRules = "rules"
)

// The contract's rate limit is 10 frames a second per connection with
// bursts of 20; the generator keeps every connection under it.
const (
	maxConnRate   = 8.0   // steady frames a second asked of one connection, at most
	agentSendRate = 9.5   // an agent connection's own token bucket
	agentBurst    = 10    // and its burst
	maxCapacity   = 10000 // the server's largest agent capacity
	maxSourceIPs  = 1 << 16
)

var (
	// ErrUsage is a command line that does not name a mode or has a bad flag.
	ErrUsage = errors.New("usage")
	// ErrBadIPRange is a --source-ips value that is not an address, a list
	// or an IPv4 range.
	ErrBadIPRange = errors.New("bad source address range")
	// ErrBadURL is a --url that is not http(s)://host:port or ws(s)://host:port.
	ErrBadURL = errors.New("bad target URL")
	// ErrOverRateLimit is a load that would push one connection past the
	// contract's 10 frames a second.
	ErrOverRateLimit = errors.New("over the per-connection rate limit")
)

// config is every setting of a run.
type config struct {
	Mode string

	URLs      []*url.URL // http(s) bases; WebSockets use ws(s) on the same host
	SourceIPs []net.IP   // local addresses to dial from, round-robin (none: the kernel's choice)

	Sessions      int     // idle: shopper sessions to open
	Conversations int     // relay, rules: conversations
	Rate          float64 // relay: shopper messages a second, all conversations together
	MsgBytes      int     // relay: text length of every message

	Duration     time.Duration // idle: hold; relay: send; rules: longest run after setup
	Warmup       time.Duration // relay: sent but not measured
	Drain        time.Duration // relay: wait for stragglers; rules: listen for duplicates
	Settle       time.Duration // idle: wait before the settled RSS reading
	SetupTimeout time.Duration // longest wait for every session to be ready
	ConnectRate  float64       // new connections a second
	Inflight     int           // handshakes under way at once, at most

	ServerPIDs []int // read RSS and CPU from /proc when given
	// AdminURLs are the servers' admin listeners (--pprof-addr): idle mode
	// asks each to collect garbage and return freed memory before the
	// baseline and the final RSS readings.
	AdminURLs []string

	SupervisorEmail    string
	SupervisorPassword string
	AgentPassword      string
	AgentPrefix        string
	Agents             int     // 0: enough for the rate (relay) or 20 conversations each (rules)
	AgentRate          float64 // relay: answers a second asked of one agent, at most (sets the default of Agents)
	AgentCapacity      int     // 0: all conversations fit, with a quarter spare
	TokenFile          string

	JSONPath   string // "-": stdout
	Progress   bool
	CloseAtEnd bool // relay, rules: agents close the run's conversations at the end
}

// defaultDurations per mode, when --duration is not given.
var defaultDurations = map[string]time.Duration{
	modeIdle: 30 * time.Second, modeRelay: 10 * time.Second, modeRules: 40 * time.Second,
}

const usageHead = `daogou-load: a load generator for Daogou, speaking only the public contract.

usage: daogou-load idle|relay|rules [flags]

  idle    open --sessions shopper sessions and hold them for --duration
  relay   --conversations conversations, --rate shopper messages a second in
          all, each answered by its agent; latency both ways, lost, CPU
  rules   --conversations conversations with silent agents: how late each
          auto greeting and holding reply arrives

flags:
`

// parseFlags reads a command line: the mode, then flags.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("daogou-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fs.Usage()
			return c, flag.ErrHelp
		}
		fs.Usage()
		return c, fmt.Errorf("%w: name a mode (idle, relay or rules) first", ErrUsage)
	}
	c.Mode = args[0]
	if _, ok := defaultDurations[c.Mode]; !ok {
		fs.Usage()
		return c, fmt.Errorf("%w: unknown mode %q", ErrUsage, c.Mode)
	}
	var urls, ips, pids listFlag
	fs.Var(&urls, "url", "server base URL, repeated or comma-separated; sessions spread round-robin (default http://127.0.0.1:8080)")
	fs.Var(&ips, "source-ips", "local addresses to dial from, round-robin: 127.0.0.1-127.0.0.20 or a comma list")
	fs.IntVar(&c.Sessions, "sessions", 1000, "idle: shopper sessions to open")
	fs.IntVar(&c.Conversations, "conversations", 100, "relay, rules: conversations")
	fs.Float64Var(&c.Rate, "rate", 100, "relay: shopper messages a second, all conversations together (open loop)")
	fs.IntVar(&c.MsgBytes, "msg-bytes", 100, "relay: bytes of every message text")
	fs.DurationVar(&c.Duration, "duration", 0, "idle: hold time; relay: send time; rules: longest run after setup (default idle 30s, relay 10s, rules 40s)")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "relay: first part of --duration that is sent but not measured")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "relay: wait this long for messages still on their way; rules: listen this long after the last deadline")
	fs.DurationVar(&c.Settle, "settle", 10*time.Second, "idle: read the server's RSS again this long after the last session opened")
	fs.DurationVar(&c.SetupTimeout, "setup-timeout", 2*time.Minute, "longest wait for every session to be ready")
	fs.Float64Var(&c.ConnectRate, "connect-rate", 5000, "new connections a second")
	fs.IntVar(&c.Inflight, "inflight", 1000, "WebSocket handshakes under way at once, at most")
	fs.Var(&pids, "server-pid", "server process id(s), comma-separated: RSS and CPU read from /proc")
	var admins string
	fs.StringVar(&admins, "admin-url", "", "idle: the servers' admin listeners (--pprof-addr), comma-separated: RSS is also read after each returns its freed memory")
	fs.StringVar(&c.SupervisorEmail, "supervisor-email", "supervisor@demo.local", "relay, rules: supervisor account that creates the load agents")
	fs.StringVar(&c.SupervisorPassword, "supervisor-password", "", "relay, rules: its password")
	fs.StringVar(&c.AgentPassword, "agent-password", "load-agent-password", "password of the load agents (set when they are created)")
	fs.StringVar(&c.AgentPrefix, "agent-prefix", "load-agent", "load agents are <prefix>-N@load.local; give each generator process its own")
	fs.IntVar(&c.Agents, "agents", 0, "load agents (0: relay: rate/agent-rate; rules: one per 20 conversations; idle: none, every conversation queues)")
	fs.Float64Var(&c.AgentRate, "agent-rate", 5, "relay: answers a second one agent sends, at most (the contract allows 10 frames a second per connection)")
	fs.IntVar(&c.AgentCapacity, "agent-capacity", 0, "capacity given to each load agent (0: its share of the conversations plus a quarter)")
	fs.StringVar(&c.TokenFile, "token-file", "", "keep agent login tokens in this file between runs (skips a bcrypt login per agent)")
	fs.StringVar(&c.JSONPath, "json", "", `write the result as JSON to this file ("-": stdout, instead of the table)`)
	fs.BoolVar(&c.Progress, "progress", true, "a progress line every second on stderr")
	fs.BoolVar(&c.CloseAtEnd, "close", true, "relay, rules: agents close the run's conversations at the end")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	if len(urls) == 0 {
		urls = listFlag{"http://127.0.0.1:8080"}
	}
	for _, u := range urls {
		parsed, err := parseTarget(u)
		if err != nil {
			return c, err
		}
		c.URLs = append(c.URLs, parsed)
	}
	for _, r := range ips {
		got, err := parseIPs(r)
		if err != nil {
			return c, err
		}
		c.SourceIPs = append(c.SourceIPs, got...)
		if len(c.SourceIPs) > maxSourceIPs {
			return c, fmt.Errorf("%w: more than %d addresses", ErrBadIPRange, maxSourceIPs)
		}
	}
	for _, p := range pids {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("%w: --server-pid %q is not a process id", ErrUsage, p)
		}
		c.ServerPIDs = append(c.ServerPIDs, n)
	}
	for _, a := range strings.Split(admins, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if u, err := url.Parse(a); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("%w: --admin-url %q is not an http URL", ErrUsage, a)
		}
		c.AdminURLs = append(c.AdminURLs, strings.TrimRight(a, "/"))
	}
	if c.Duration == 0 {
		c.Duration = defaultDurations[c.Mode]
	}
	return c, c.check()
}

// check validates the settings and fills in the derived ones.
func (c *config) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrUsage}, a...)...)
	}
	switch {
	case c.Duration <= 0 || c.SetupTimeout <= 0:
		return bad("--duration and --setup-timeout must be positive")
	case c.Warmup < 0 || c.Drain < 0 || c.Settle < 0:
		return bad("--warmup, --drain and --settle cannot be negative")
	case c.ConnectRate <= 0 || c.Inflight < 1:
		return bad("--connect-rate and --inflight must be positive")
	case c.Agents < 0 || c.AgentCapacity < 0 || c.AgentCapacity > maxCapacity:
		return bad("--agents must be >= 0 and --agent-capacity 0 to %d", maxCapacity)
	}
	switch c.Mode {
	case modeIdle:
		if c.Sessions < 1 {
			return bad("--sessions must be at least 1")
		}
		if c.Agents == 0 {
			return nil // every conversation waits in the queue
		}
		c.Conversations = c.Sessions
	case modeRelay:
		if c.Rate <= 0 {
			return bad("--rate must be positive")
		}
		if c.MsgBytes < 40 || c.MsgBytes > 4000 {
			return bad("--msg-bytes is 40 to 4000")
		}
		if c.Warmup >= c.Duration {
			return bad("--warmup must be shorter than --duration")
		}
	}
	if c.Conversations < 1 {
		return bad("--conversations must be at least 1")
	}
	if c.SupervisorPassword == "" {
		return bad("--supervisor-password is needed to create the load agents")
	}
	if len(c.AgentPassword) < 8 {
		return bad("--agent-password needs at least 8 characters")
	}
	return c.sizeAgents()
}

// sizeAgents picks the number of agents and their capacity.
func (c *config) sizeAgents() error {
	if c.Mode == modeRelay {
		if per := c.Rate / float64(c.Conversations); per > maxConnRate {
			return fmt.Errorf("%w: %.1f messages a second per shopper; use at least %d conversations for --rate %g",
				ErrOverRateLimit, per, int(math.Ceil(c.Rate/maxConnRate)), c.Rate)
		}
		if c.AgentRate <= 0 || c.AgentRate > maxConnRate {
			return fmt.Errorf("%w: --agent-rate is above 0 and at most %g", ErrOverRateLimit, maxConnRate)
		}
		need := int(math.Ceil(c.Rate / maxConnRate))
		if c.Agents == 0 {
			c.Agents = min(max(need, int(math.Ceil(c.Rate/c.AgentRate))), c.Conversations)
		}
		if c.Agents < need {
			return fmt.Errorf("%w: %d agents would answer %.1f messages a second each; use at least %d",
				ErrOverRateLimit, c.Agents, c.Rate/float64(c.Agents), need)
		}
	}
	if c.Agents == 0 {
		c.Agents = (c.Conversations + 19) / 20
	}
	c.Agents = min(c.Agents, c.Conversations)
	share := (c.Conversations + c.Agents - 1) / c.Agents
	if c.AgentCapacity == 0 {
		c.AgentCapacity = min(share+share/4+1, maxCapacity)
	}
	if c.AgentCapacity*c.Agents < c.Conversations {
		return fmt.Errorf("%w: %d agents of capacity %d cannot hold %d conversations",
			ErrUsage, c.Agents, c.AgentCapacity, c.Conversations)
	}
	return nil
}

// listFlag is a flag that may be repeated and holds comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// parseTarget reads a server base URL: http(s)://host:port, ws(s)://host:port
// or host:port.
func parseTarget(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrBadURL, s, err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("%w: %q: scheme is http, https, ws or wss", ErrBadURL, s)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("%w: %q: give only scheme, host and port", ErrBadURL, s)
	}
	u.Path = ""
	return u, nil
}

// parseIPs reads one address or an IPv4 range "first-last" (the last may
// be written as only its final number: 127.0.0.1-20).
func parseIPs(s string) ([]net.IP, error) {
	first, last, isRange := strings.Cut(s, "-")
	a := net.ParseIP(strings.TrimSpace(first))
	if a == nil {
		return nil, fmt.Errorf("%w: %q is not an address", ErrBadIPRange, first)
	}
	if !isRange {
		return []net.IP{a}, nil
	}
	last = strings.TrimSpace(last)
	if !strings.Contains(last, ".") && a.To4() != nil {
		parts := strings.Split(a.To4().String(), ".")
		last = strings.Join(parts[:3], ".") + "." + last
	}
	b := net.ParseIP(last)
	if a.To4() == nil || b == nil || b.To4() == nil {
		return nil, fmt.Errorf("%w: %q: ranges are IPv4 only", ErrBadIPRange, s)
	}
	lo, hi := binary.BigEndian.Uint32(a.To4()), binary.BigEndian.Uint32(b.To4())
	if hi < lo {
		return nil, fmt.Errorf("%w: %q ends before it starts", ErrBadIPRange, s)
	}
	if hi-lo >= maxSourceIPs {
		return nil, fmt.Errorf("%w: %q: more than %d addresses", ErrBadIPRange, s, maxSourceIPs)
	}
	out := make([]net.IP, 0, hi-lo+1)
	for v := lo; ; v++ {
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, v)
		out = append(out, ip)
		if v == hi {
			break
		}
	}
	return out, nil
}

//go:build cluster

// Package cluster runs several Daogou instances as separate processes
// (built once from cmd/daogou with -race) on one Redis and one PostgreSQL,
// and checks that they act as one: the multi-instance tests of issue 4.
//
// Each test has its own PostgreSQL schema and its own Redis prefix
// (--redis-prefix), so it meets no other user of the two servers. Run with
//
//	go test -race -count=1 -tags cluster ./tests/cluster/...
//
// DAOGOU_TEST_POSTGRES and DAOGOU_TEST_REDIS name the servers; without them
// a test skips, or fails when CI is set.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

const (
	defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultRedis    = "redis://127.0.0.1:6379/0"
	password        = "cluster-pass-1"
)

// binary is the daogou executable TestMain built.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "daogou-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster tests: go env GOMOD:", err)
		return 1
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	binary = filepath.Join(dir, "daogou")
	build := exec.Command("go", "build", "-race", "-o", binary, "./cmd/daogou")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "cluster tests: go build ./cmd/daogou: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// unavailable skips t when a server is missing, or fails it on CI.
func unavailable(t *testing.T, what, env string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not reachable (set %s): %v", what, env, err)
	}
	t.Skipf("%s not reachable: set %s or start it (%v)", what, env, err)
}

// cluster is one test's Redis, PostgreSQL schema and instances.
type cluster struct {
	t        *testing.T
	pg       string // DSN of the test's schema
	redisURL string // as the instances get it (with a client name)
	prefix   string // of every Redis key and channel of the test
	name     string // the Redis client name of every instance connection
	rdb      *redis.Client
	dir      string
}

// newCluster gives t a fresh schema and a Redis prefix of its own.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	ctx, cancel := ctxWait()
	defer cancel()
	pgDSN := envOr("DAOGOU_TEST_POSTGRES", defaultPostgres)
	admin, err := pgx.Connect(ctx, pgDSN)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		unavailable(t, "PostgreSQL", "DAOGOU_TEST_POSTGRES", err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	redisURL := envOr("DAOGOU_TEST_REDIS", defaultRedis)
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("DAOGOU_TEST_REDIS: %v", err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(ctx).Err(); err != nil {
		unavailable(t, "Redis", "DAOGOU_TEST_REDIS", err)
	}

	suffix := randomHex(6)
	schema := "t_" + suffix
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	c := &cluster{t: t, pg: withQuery(t, pgDSN, "search_path", schema), rdb: rdb, dir: t.TempDir(),
		prefix: "daogou-test-" + suffix + ":", name: "daogou-cluster-" + suffix}
	c.redisURL = withQuery(t, redisURL, "client_name", c.name)
	c.cleanRedis()
	t.Cleanup(c.cleanRedis)
	return c
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// withQuery sets one query parameter of a URL.
func withQuery(t testing.TB, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// cleanRedis deletes every key of the test's prefix.
func (c *cluster) cleanRedis() {
	ctx, cancel := ctxWait()
	defer cancel()
	iter := c.rdb.Scan(ctx, 0, c.prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		c.t.Fatalf("scan %s*: %v", c.prefix, err)
	}
	if len(keys) > 0 {
		if err := c.rdb.Del(ctx, keys...).Err(); err != nil {
			c.t.Fatalf("del %s*: %v", c.prefix, err)
		}
	}
}

// acct is an account to create.
type acct struct {
	email, name, role string
	capacity          int
}

// accounts creates accounts with `daogou agent add`, all at once, and
// returns their ids in order.
func (c *cluster) accounts(list ...acct) []string {
	c.t.Helper()
	ids := make([]string, len(list))
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, a := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = c.addAccount(a)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			c.t.Fatal(err)
		}
	}
	return ids
}

func (c *cluster) addAccount(a acct) (string, error) {
	cmd := exec.Command(binary, "agent", "add", "--postgres", c.pg, "--email", a.email, "--name", a.name,
		"--password", password, "--role", a.role, "--capacity", fmt.Sprint(a.capacity), "--log-level", "warn")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("daogou agent add %s: %w\n%s%s", a.email, err, stdout.String(), stderr.String())
	}
	// "created <role> <email> (<name>) id <id>"
	_, id, ok := strings.Cut(strings.TrimSpace(stdout.String()), " id ")
	if !ok || id == "" {
		return "", fmt.Errorf("daogou agent add %s: no id in %q", a.email, stdout.String())
	}
	return id, nil
}

// instance is one daogou process.
type instance struct {
	t       *testing.T
	name    string
	url     string // http://127.0.0.1:port
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process exited
}

// startOpts change how an instance starts.
type startOpts struct {
	redis string // another Redis URL (a proxy); the cluster's when empty
}

// start runs an instance and waits until /readyz answers 200.
func (c *cluster) start(name string, o startOpts) *instance {
	c.t.Helper()
	redisURL := c.redisURL
	if o.redis != "" {
		redisURL = o.redis
	}
	addr := freeAddr(c.t)
	in := &instance{t: c.t, name: name, url: "http://" + addr, logPath: filepath.Join(c.dir, name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(in.logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	in.cmd = exec.Command(binary,
		"--addr", addr, "--redis", redisURL, "--redis-prefix", c.prefix, "--postgres", c.pg, "--data-dir", filepath.Join(c.dir, name),
		"--log-format", "json", "--log-level", "info",
		"--greeting-deadline", "4s", "--auto-greet-margin", "800ms", "--first-response-deadline", "1s",
		"--reassign-deadline", "20s", "--reconnect-grace", "3s", "--shutdown-wait", "5s")
	in.cmd.Stdout, in.cmd.Stderr = logFile, logFile
	if err := in.cmd.Start(); err != nil {
		logFile.Close()
		c.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = in.cmd.Wait()
		logFile.Close()
		close(in.done)
	}()
	c.t.Cleanup(in.cleanup)
	in.waitReady()
	return in
}

// freeAddr is a loopback address with a port nobody listens on now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitReady polls /readyz until it answers 200.
func (in *instance) waitReady() {
	in.t.Helper()
	last := ""
	ok := poll(30*time.Second, 50*time.Millisecond, func() bool {
		select {
		case <-in.done:
			return true
		default:
		}
		status, body := in.readyz()
		last = fmt.Sprintf("%d %s", status, body)
		return status == http.StatusOK
	})
	select {
	case <-in.done:
		in.t.Fatalf("%s exited while starting:\n%s", in.name, in.tail(60))
	default:
	}
	if !ok {
		in.t.Fatalf("%s not ready within 30s (last /readyz: %s):\n%s", in.name, last, in.tail(60))
	}
}

// readyz is GET /readyz's status and body (0 when it did not answer).
func (in *instance) readyz() (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, in.url+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// poll runs cond every interval until it holds or timeout passes.
func poll(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return cond()
		}
	}
}

// eventually fails t unless cond holds within timeout; cond says why not.
func eventually(t testing.TB, timeout time.Duration, desc string, cond func() (bool, string)) {
	t.Helper()
	why := ""
	if !poll(timeout, 100*time.Millisecond, func() bool {
		var ok bool
		ok, why = cond()
		return ok
	}) {
		t.Fatalf("%s: not within %s: %s", desc, timeout, why)
	}
}

// kill ends the process at once (SIGKILL): no goodbye to Redis.
func (in *instance) kill() {
	in.t.Helper()
	if err := in.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		in.t.Fatalf("kill %s: %v", in.name, err)
	}
	<-in.done
}

// terminate asks the process to stop (SIGTERM) and waits for it.
func (in *instance) terminate() {
	in.t.Helper()
	select {
	case <-in.done:
		return
	default:
	}
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		in.t.Errorf("terminate %s: %v", in.name, err)
	}
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	select {
	case <-in.done:
	case <-timer.C:
		in.t.Errorf("%s did not stop within 20s of SIGTERM", in.name)
		_ = in.cmd.Process.Signal(syscall.SIGKILL)
		<-in.done
	}
}

// cleanup stops the instance, reports a data race it logged, and shows its
// log when the test failed.
func (in *instance) cleanup() {
	in.terminate()
	if code := in.cmd.ProcessState.ExitCode(); code == 66 {
		in.t.Errorf("%s exited with the race detector's code 66", in.name)
	}
	if b, err := os.ReadFile(in.logPath); err == nil && bytes.Contains(b, []byte("WARNING: DATA RACE")) {
		in.t.Errorf("%s: the race detector found a data race:\n%s", in.name, in.tail(200))
	} else if in.t.Failed() {
		in.t.Logf("log of %s, last lines:\n%s", in.name, in.tail(150))
	}
}

// tail is the last n lines of the instance's log.
func (in *instance) tail(n int) string {
	f, err := os.Open(in.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// do calls the HTTP API with a bearer token and decodes a 2xx JSON answer
// into out (when not nil); it fails nothing, for goroutines.
func (in *instance) do(method, path, token string, body, out any) (int, error) {
	ctx, cancel := ctxWait()
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, in.url+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s on %s: %w", method, path, in.name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s on %s: %w", method, path, in.name, err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s on %s: %w in %s", method, path, in.name, err, raw)
		}
	}
	return resp.StatusCode, nil
}

// api is do for the test goroutine: a transport error fails t.
func (in *instance) api(t testing.TB, method, path, token string, body, out any) int {
	t.Helper()
	status, err := in.do(method, path, token, body, out)
	if err != nil {
		t.Fatal(err)
	}
	return status
}

// login returns a token for an account made by cluster.account.
func (in *instance) login(t testing.TB, email string) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	if st := in.api(t, http.MethodPost, "/api/v1/login", "", map[string]string{"email": email, "password": password}, &out); st != http.StatusOK {
		t.Fatalf("login %s on %s: status %d", email, in.name, st)
	}
	return out.Token
}

// stored is a conversation's messages as the store has them.
func (in *instance) stored(t testing.TB, convID, token string) []wireMsg {
	t.Helper()
	var out struct {
		Messages []wireMsg `json:"messages"`
	}
	if st := in.api(t, http.MethodGet, "/api/v1/conversations/"+convID+"/messages", token, nil, &out); st != http.StatusOK {
		t.Fatalf("messages of %s on %s: status %d", convID, in.name, st)
	}
	return out.Messages
}

// agents is GET /api/v1/agents with a supervisor's token.
func (in *instance) agents(t testing.TB, token string) []wireAgent {
	t.Helper()
	var out struct {
		Agents []wireAgent `json:"agents"`
	}
	if st := in.api(t, http.MethodGet, "/api/v1/agents", token, nil, &out); st != http.StatusOK {
		t.Fatalf("agents on %s: status %d", in.name, st)
	}
	return out.Agents
}

// scriptIDs is the set of script ids of a category.
func (in *instance) scriptIDs(t testing.TB, token, category string) map[string]bool {
	t.Helper()
	var list []struct {
		ID string `json:"id"`
	}
	if st := in.api(t, http.MethodGet, "/api/v1/scripts?category="+category, token, nil, &list); st != http.StatusOK {
		t.Fatalf("scripts on %s: status %d", in.name, st)
	}
	ids := map[string]bool{}
	for _, s := range list {
		ids[s.ID] = true
	}
	if len(ids) == 0 {
		t.Fatalf("no %s scripts", category)
	}
	return ids
}

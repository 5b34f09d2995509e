package chat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/daogou/daogou/chat/store"
)

// Roles of accounts.
const (
	AccountAgent      = "agent"
	AccountSupervisor = "supervisor"
)

// Auth errors.
var (
	// ErrBadCredentials: unknown e-mail or wrong password.
	ErrBadCredentials = errors.New("chat: bad credentials")
	// ErrBadToken: a login token that is unknown, expired or malformed.
	ErrBadToken = errors.New("chat: bad token")
)

// dummyHash is compared against when the e-mail is unknown.
var dummyHash = sync.OnceValue(func() []byte {
	b, _ := bcrypt.GenerateFromPassword([]byte("no such account"), bcrypt.DefaultCost)
	return b
})

// HashPassword hashes a password with bcrypt at the hub's cost.
func (h *Hub) HashPassword(pw string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(pw), h.cfg.PasswordCost)
	return string(b), err
}

// newSecret is 32 random bytes, URL-safe; its SHA-256 is what is stored.
func newSecret() (raw, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	raw = base64.RawURLEncoding.EncodeToString(b)
	return raw, hashSecret(raw)
}

func hashSecret(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// Login checks an e-mail and password and issues a login token.
func (h *Hub) Login(ctx context.Context, email, password string) (string, store.Agent, error) {
	a, err := h.store.AgentByEmail(ctx, normalizeEmail(email))
	if errors.Is(err, store.ErrNotFound) {
		// Spend the same time as a real check, so e-mails cannot be probed.
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return "", store.Agent{}, ErrBadCredentials
	}
	if err != nil {
		return "", store.Agent{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(a.PasswordHash), []byte(password)) != nil {
		return "", store.Agent{}, ErrBadCredentials
	}
	raw, hash := newSecret()
	if err := h.store.CreateToken(ctx, hash, a.ID, h.clock.Now().Add(h.cfg.TokenTTL)); err != nil {
		return "", store.Agent{}, err
	}
	return raw, a, nil
}

// Authenticate finds the account of a login token.
func (h *Hub) Authenticate(ctx context.Context, token string) (store.Agent, error) {
	if token == "" || len(token) > 256 {
		return store.Agent{}, ErrBadToken
	}
	a, err := h.store.TokenAgent(ctx, hashSecret(token), h.clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Agent{}, ErrBadToken
	}
	return a, err
}

// CreateAccount stores a new agent or supervisor.
func (h *Hub) CreateAccount(ctx context.Context, email, name, password, role string, skills []string, capacity int) (store.Agent, error) {
	if role == "" {
		role = AccountAgent
	}
	if capacity <= 0 {
		capacity = h.cfg.DefaultCapacity
	}
	if skills == nil {
		skills = []string{}
	}
	hash, err := h.HashPassword(password)
	if err != nil {
		return store.Agent{}, err
	}
	a := store.Agent{
		ID: uuid.NewString(), Email: normalizeEmail(email), Name: name, Role: role,
		Skills: skills, Capacity: capacity, PasswordHash: hash, CreatedAt: h.clock.Now(),
	}
	if err := h.store.CreateAgent(ctx, a); err != nil {
		return store.Agent{}, err
	}
	if err := h.dir.Upsert(ctx, a); err != nil {
		return store.Agent{}, err
	}
	h.agentChanged(a.ID)
	return a, nil
}

// UpdateAccount saves an account's new profile and routes with it at once.
func (h *Hub) UpdateAccount(ctx context.Context, a store.Agent) error {
	if err := h.store.UpdateAgent(ctx, a); err != nil {
		return err
	}
	if err := h.dir.Upsert(ctx, a); err != nil {
		return err
	}
	h.agentChanged(a.ID)
	h.drain(ctx)
	return nil
}

func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// newVisitor issues a visitor id and its token. The visitor is stored with
// its first conversation (one transaction), not here.
func (h *Hub) newVisitor(name string) (store.Visitor, string) {
	raw, hash := newSecret()
	return store.Visitor{ID: store.NewID(), TokenHash: hash, Name: name, CreatedAt: h.clock.Now()}, raw
}

// checkVisitor proves a visitor token; any failure is ErrBadToken, so a
// caller learns nothing of the visitor.
func (h *Hub) checkVisitor(ctx context.Context, id, token string) (store.Visitor, error) {
	if id == "" || token == "" || len(token) > 256 || uuid.Validate(id) != nil {
		return store.Visitor{}, ErrBadToken
	}
	v, err := h.store.Visitor(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Visitor{}, ErrBadToken
	}
	if err != nil {
		return store.Visitor{}, err
	}
	if subtle.ConstantTimeCompare([]byte(v.TokenHash), []byte(hashSecret(token))) != 1 {
		return store.Visitor{}, ErrBadToken
	}
	return v, nil
}

// bearer is the token of a request: the Authorization header or ?token=.
func bearer(r *http.Request) string {
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return r.URL.Query().Get("token")
}

// checkOrigin accepts a WebSocket from the server's own origin, from an
// allowed origin ("*" allows all), or from a client that sends none (not a
// browser).
func (h *Hub) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range h.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

package chat

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/daogou/daogou/chat/store"
)

// The HTTP API (PROTOCOL.md, Endpoints). Errors are {"error":{"code","message"}}.

type apiError struct {
	Error errorBody `json:"error"`
}

// apiErr is an error answered as {"error":{"code","message"}} with status.
func apiErr(status int, code, msg string) error {
	return &echo.HTTPError{Code: status, Message: errorBody{Code: code, Message: msg}}
}

// ErrorHandler answers every API error in the one JSON shape.
func (h *Hub) ErrorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := http.StatusInternalServerError, errorBody{Code: CodeInternal, Message: "internal error"}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		switch m := he.Message.(type) {
		case errorBody:
			body = m
		default:
			body = errorBody{Code: codeOfStatus(status), Message: http.StatusText(status)}
			if s, ok := m.(string); ok {
				body.Message = s
			}
		}
	} else {
		h.log.Error("request failed", zap.String("path", c.Path()), zap.Error(err))
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, apiError{body})
}

func codeOfStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return CodeBadRequest
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return CodeNotFound
	case http.StatusConflict:
		return CodeConflict
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusTooManyRequests:
		return CodeRateLimited
	}
	return CodeInternal
}

// staffAuth authenticates the request's bearer token; supervisorOnly
// refuses agents with 403.
func (h *Hub) staffAuth(c echo.Context, supervisorOnly bool) (store.Agent, error) {
	a, err := h.Authenticate(c.Request().Context(), bearer(c.Request()))
	if errors.Is(err, ErrBadToken) {
		return a, apiErr(http.StatusUnauthorized, CodeUnauthorized, "missing or wrong token")
	}
	if err != nil {
		return a, err
	}
	if supervisorOnly && a.Role != AccountSupervisor {
		return a, apiErr(http.StatusForbidden, CodeForbidden, "supervisors only")
	}
	return a, nil
}

func (h *Hub) apiLogin(c echo.Context) error {
	var b struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := c.Bind(&b); err != nil || b.Email == "" || b.Password == "" {
		return apiErr(http.StatusBadRequest, CodeBadRequest, `body must be {"email","password"}`)
	}
	token, a, err := h.Login(c.Request().Context(), b.Email, b.Password)
	if errors.Is(err, ErrBadCredentials) {
		return apiErr(http.StatusUnauthorized, CodeUnauthorized, "wrong e-mail or password")
	}
	if err != nil {
		return err
	}
	h.log.Info("login", zap.String("agent_id", a.ID), zap.String("role", a.Role))
	return c.JSON(http.StatusOK, map[string]any{
		"token": token,
		"agent": map[string]any{"id": a.ID, "name": a.Name, "role": a.Role, "email": a.Email, "skills": nonNil(a.Skills), "capacity": a.Capacity},
	})
}

func (h *Hub) apiMe(c echo.Context) error {
	a, err := h.staffAuth(c, false)
	if err != nil {
		return err
	}
	v, _ := h.dir.View(c.Request().Context(), a.ID)
	v.Today = h.stats.agentToday(a.ID)
	return c.JSON(http.StatusOK, map[string]any{"agent": v})
}

func (h *Hub) apiAgents(c echo.Context) error {
	if _, err := h.staffAuth(c, true); err != nil {
		return err
	}
	views, err := h.dir.Views(c.Request().Context())
	if err != nil {
		return err
	}
	for i := range views {
		views[i].Today = h.stats.agentToday(views[i].ID)
	}
	return c.JSON(http.StatusOK, map[string]any{"agents": views})
}

type agentInput struct {
	Email    string    `json:"email"`
	Name     string    `json:"name"`
	Password string    `json:"password"`
	Role     string    `json:"role"`
	Skills   *[]string `json:"skills"`
	Capacity *int      `json:"capacity"`
}

func (in agentInput) check() error {
	if in.Role != "" && in.Role != AccountAgent && in.Role != AccountSupervisor {
		return errors.New(`role is "agent" or "supervisor"`)
	}
	if in.Capacity != nil && (*in.Capacity < 1 || *in.Capacity > 10000) {
		return errors.New("capacity is 1 to 10000")
	}
	if in.Skills != nil {
		for _, s := range *in.Skills {
			if s == "" || len(s) > 40 {
				return errors.New("a skill is 1 to 40 characters")
			}
		}
	}
	return nil
}

func (h *Hub) apiCreateAgent(c echo.Context) error {
	if _, err := h.staffAuth(c, true); err != nil {
		return err
	}
	var in agentInput
	if err := c.Bind(&in); err != nil {
		return apiErr(http.StatusBadRequest, CodeBadRequest, "body must be a JSON object")
	}
	if !strings.Contains(in.Email, "@") || strings.TrimSpace(in.Name) == "" || len(in.Password) < 8 {
		return apiErr(http.StatusBadRequest, CodeBadRequest, "email, name and a password of at least 8 characters are required")
	}
	if err := in.check(); err != nil {
		return apiErr(http.StatusBadRequest, CodeBadRequest, err.Error())
	}
	var skills []string
	if in.Skills != nil {
		skills = *in.Skills
	}
	capacity := 0
	if in.Capacity != nil {
		capacity = *in.Capacity
	}
	a, err := h.CreateAccount(c.Request().Context(), in.Email, strings.TrimSpace(in.Name), in.Password, in.Role, skills, capacity)
	if errors.Is(err, store.ErrConflict) {
		return apiErr(http.StatusConflict, CodeConflict, "an account with that e-mail exists")
	}
	if err != nil {
		return err
	}
	v, _ := h.dir.View(c.Request().Context(), a.ID)
	return c.JSON(http.StatusCreated, map[string]any{"agent": v})
}

func (h *Hub) apiPatchAgent(c echo.Context) error {
	if _, err := h.staffAuth(c, true); err != nil {
		return err
	}
	ctx := c.Request().Context()
	a, err := h.store.Agent(ctx, c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		return apiErr(http.StatusNotFound, CodeNotFound, "no such agent")
	}
	if err != nil {
		return err
	}
	var in agentInput
	if err := c.Bind(&in); err != nil {
		return apiErr(http.StatusBadRequest, CodeBadRequest, "body must be a JSON object")
	}
	if err := in.check(); err != nil {
		return apiErr(http.StatusBadRequest, CodeBadRequest, err.Error())
	}
	if in.Role != "" {
		a.Role = in.Role
	}
	if in.Skills != nil {
		a.Skills = *in.Skills
	}
	if in.Capacity != nil {
		a.Capacity = *in.Capacity
	}
	if n := strings.TrimSpace(in.Name); n != "" {
		a.Name = n
	}
	if err := h.UpdateAccount(ctx, a); err != nil {
		return err
	}
	v, _ := h.dir.View(ctx, a.ID)
	return c.JSON(http.StatusOK, map[string]any{"agent": v})
}

func (h *Hub) apiScripts(c echo.Context) error {
	if _, err := h.staffAuth(c, false); err != nil {
		return err
	}
	list := h.scripts.List(c.QueryParam("locale"), c.QueryParam("category"))
	if kind := c.QueryParam("kind"); kind != "" {
		kept := list[:0]
		for _, s := range list {
			if s.Kind == kind {
				kept = append(kept, s)
			}
		}
		list = kept
	}
	return c.JSON(http.StatusOK, list)
}

// apiMessages is readable by staff and by the owning shopper (bearer
// visitor token); anyone else gets 404.
func (h *Hub) apiMessages(c echo.Context) error {
	ctx := c.Request().Context()
	conv, err := h.store.Conversation(ctx, c.Param("id"))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || !h.mayReadHTTP(c, conv) {
		return apiErr(http.StatusNotFound, CodeNotFound, "no such conversation")
	}
	after, _ := strconv.ParseInt(c.QueryParam("after_seq"), 10, 64)
	limit, _ := strconv.Atoi(c.QueryParam("limit"))
	msgs, err := h.store.Messages(ctx, conv.ID, max(after, 0), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"messages": nonNil(msgs)})
}

func (h *Hub) mayReadHTTP(c echo.Context, conv store.Conversation) bool {
	token := bearer(c.Request())
	if _, err := h.Authenticate(c.Request().Context(), token); err == nil {
		return true
	}
	_, err := h.checkVisitor(c.Request().Context(), conv.VisitorID, token)
	return err == nil
}

func (h *Hub) apiConversation(c echo.Context) error {
	if _, err := h.staffAuth(c, false); err != nil {
		return err
	}
	ctx := c.Request().Context()
	conv, err := h.store.Conversation(ctx, c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		return apiErr(http.StatusNotFound, CodeNotFound, "no such conversation")
	}
	if err != nil {
		return err
	}
	prev, err := h.store.VisitorConversations(ctx, conv.VisitorID, 11)
	if err != nil {
		return err
	}
	views := []convView{}
	for _, p := range prev {
		if p.ID != conv.ID && len(views) < 10 {
			views = append(views, h.view(p))
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"conversation": h.view(conv), "previous": views})
}

func (h *Hub) apiConversations(c echo.Context) error {
	a, err := h.staffAuth(c, false)
	if err != nil {
		return err
	}
	open, err := h.store.OpenConversations(c.Request().Context())
	if err != nil {
		return err
	}
	views := []convView{}
	for _, conv := range open {
		if a.Role == AccountSupervisor || conv.AgentID == a.ID {
			views = append(views, h.view(conv))
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"conversations": views})
}

func (h *Hub) apiConfig(c echo.Context) error {
	r := h.cfg.Rules
	return c.JSON(http.StatusOK, map[string]any{
		"shop_name":                  h.cfg.ShopName,
		"default_locale":             h.cfg.DefaultLocale,
		"locales":                    []string{"zh-CN", "en"},
		"greeting_deadline_ms":       r.GreetingDeadline.Milliseconds(),
		"auto_greet_after_ms":        r.AutoGreetAfter().Milliseconds(),
		"first_response_deadline_ms": r.FirstResponseDeadline.Milliseconds(),
		"reassign_deadline_ms":       r.ReassignDeadline.Milliseconds(),
	})
}

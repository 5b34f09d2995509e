package chat

import (
	"context"
	"io/fs"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewServer is the HTTP face of a hub: the API, the three WebSocket
// endpoints, health and metrics, and the web pages from web.
func NewServer(h *Hub, web fs.FS) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.ErrorHandler
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit("64K"))

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", h.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(h.metrics.Registry, promhttp.HandlerOpts{})))

	api := e.Group("/api/v1")
	if len(h.cfg.AllowedOrigins) > 0 {
		// The widget on a shop's own origin reads the config and its
		// transcript from here.
		api.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins: h.cfg.AllowedOrigins,
			AllowHeaders: []string{echo.HeaderAuthorization, echo.HeaderContentType},
			AllowMethods: []string{http.MethodGet, http.MethodPost, http.MethodPatch},
		}))
	}
	api.POST("/login", h.apiLogin)
	api.GET("/me", h.apiMe)
	api.GET("/config", h.apiConfig)
	api.GET("/agents", h.apiAgents)
	api.POST("/agents", h.apiCreateAgent)
	api.PATCH("/agents/:id", h.apiPatchAgent)
	api.GET("/scripts", h.apiScripts)
	api.GET("/conversations", h.apiConversations)
	api.GET("/conversations/:id", h.apiConversation)
	api.GET("/conversations/:id/messages", h.apiMessages)

	e.GET("/ws/shopper", h.ServeShopper)
	e.GET("/ws/agent", h.ServeAgent)
	e.GET("/ws/supervisor", h.ServeSupervisor)

	if web != nil {
		files := http.FileServer(http.FS(web))
		page := func(name string) echo.HandlerFunc { return echo.StaticFileHandler(name, web) }
		e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/demo") })
		e.GET("/widget.js", page("widget.js"))
		for _, p := range []string{"demo", "console", "supervisor"} {
			e.GET("/"+p, page(p+"/index.html"))
			e.GET("/"+p+"/", page(p+"/index.html"))
			e.GET("/"+p+"/*", echo.WrapHandler(files))
		}
		e.GET("/assets/*", echo.WrapHandler(files))
	}
	return e
}

// readyz answers 200 when the store and the broker answer, 503 with the
// reason otherwise.
func (h *Hub) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	status, checks := http.StatusOK, map[string]string{}
	for name, err := range h.Ready(ctx) {
		checks[name] = "ok"
		if err != nil {
			checks[name], status = err.Error(), http.StatusServiceUnavailable
		}
	}
	if h.closing.Load() {
		checks["hub"], status = "shutting down", http.StatusServiceUnavailable
	}
	body := map[string]any{"status": "ready", "checks": checks}
	if status != http.StatusOK {
		body["status"] = "not ready"
	}
	return c.JSON(status, body)
}

package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

// The admin API (served on listeners.admin, loopback only, used by
// `kubemail queue`):
//
//	GET    /v1/queue             the queued messages, JSON []MessageInfo
//	POST   /v1/queue/retry       make every waiting recipient due now
//	POST   /v1/queue/{id}/retry  the same for one message
//	DELETE /v1/queue/{id}        remove a message from the queue (no report)
//
// Errors are JSON {"error": "..."} with a 4xx or 5xx status.

// MessageInfo is a queued message as the admin API shows it.
type MessageInfo struct {
	ID         string          `json:"id"`
	Sender     string          `json:"sender"`
	Account    string          `json:"account,omitempty"`
	Created    time.Time       `json:"created"`
	Size       int64           `json:"size"`
	RequireTLS bool            `json:"requireTLS,omitempty"`
	Recipients []RecipientInfo `json:"recipients"`
}

// RecipientInfo is one queued recipient as the admin API shows it.
type RecipientInfo struct {
	Address     string    `json:"address"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"nextAttempt"`
	LastAttempt time.Time `json:"lastAttempt,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	InFlight    bool      `json:"inFlight,omitempty"`
}

// RetryResult is the answer to a retry.
type RetryResult struct {
	Rescheduled int `json:"rescheduled"`
}

// AdminOptions configure NewAdminHandler.
type AdminOptions struct {
	// Store holds the queue. Required.
	Store store.Queue
	// Queue is kicked after a retry; nil leaves it to poll.
	Queue *Queue
	// Clock is the time source; nil means the system's.
	Clock Clock
	// Logger receives the logs; nil discards them.
	Logger *slog.Logger
}

// NewAdminHandler returns the admin API handler.
func NewAdminHandler(opts AdminOptions) http.Handler {
	if opts.Clock == nil {
		opts.Clock = SystemClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &admin{opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/queue", a.list)
	mux.HandleFunc("POST /v1/queue/retry", a.retry)
	mux.HandleFunc("POST /v1/queue/{id}/retry", a.retry)
	mux.HandleFunc("DELETE /v1/queue/{id}", a.delete)
	return mux
}

type admin struct{ opts AdminOptions }

func (a *admin) list(w http.ResponseWriter, r *http.Request) {
	entries, err := a.opts.Store.ListQueue(r.Context())
	if err != nil {
		a.fail(w, http.StatusInternalServerError, "listing the queue", err)
		return
	}
	out := make([]MessageInfo, 0, len(entries))
	for _, e := range entries {
		m := MessageInfo{ID: e.Message.ID, Sender: e.Message.Sender, Account: e.Message.Account, Created: e.Message.Created,
			Size: e.Message.Size, RequireTLS: e.Message.RequireTLS, Recipients: []RecipientInfo{}}
		for _, rc := range e.Recipients {
			m.Recipients = append(m.Recipients, RecipientInfo{Address: rc.Address, Attempts: rc.Attempts,
				NextAttempt: rc.NextAttempt, LastAttempt: rc.LastAttempt, LastError: rc.LastError, InFlight: rc.InFlight})
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *admin) retry(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := a.opts.Store.RescheduleQueued(r.Context(), id, a.opts.Clock.Now())
	if err != nil {
		a.fail(w, http.StatusInternalServerError, "rescheduling", err)
		return
	}
	if id != "" && n == 0 {
		if _, _, err := a.opts.Store.QueuedMessage(r.Context(), id); errors.Is(err, store.ErrQueueEntryNotFound) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no queued message " + id})
			return
		}
	}
	if a.opts.Queue != nil {
		// Asked to retry now: destinations marked unreachable are tried too.
		a.opts.Queue.dead.clearAll()
		a.opts.Queue.Kick()
	}
	a.opts.Logger.Info("Queue retry requested", "id", id, "recipients", n)
	writeJSON(w, http.StatusOK, RetryResult{Rescheduled: n})
}

func (a *admin) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := a.opts.Store.DeleteQueued(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrQueueEntryNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no queued message " + id})
	case err != nil:
		a.fail(w, http.StatusInternalServerError, "deleting", err)
	default:
		a.opts.Logger.Info("Queued message deleted", "id", id)
		w.WriteHeader(http.StatusNoContent)
	}
}

// fail logs an internal error; its text stays in the log.
func (a *admin) fail(w http.ResponseWriter, status int, action string, err error) {
	a.opts.Logger.Error("Admin API failed", "action", action, "error", err)
	writeJSON(w, status, map[string]string{"error": action + " failed; see the server log"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// AdminClient talks to a running server's admin API.
type AdminClient struct {
	// BaseURL is "http://127.0.0.1:9381" or the like.
	BaseURL string
	// HTTP is the client; nil means http.DefaultClient.
	HTTP *http.Client
}

// List returns the queued messages.
func (c *AdminClient) List(ctx context.Context) ([]MessageInfo, error) {
	var out []MessageInfo
	if err := c.do(ctx, http.MethodGet, "/v1/queue", &out); err != nil {
		return nil, fmt.Errorf("listing the queue: %w", err)
	}
	return out, nil
}

// Retry makes message id (every message when id is "") due now and
// returns how many recipients it rescheduled.
func (c *AdminClient) Retry(ctx context.Context, id string) (int, error) {
	path := "/v1/queue/retry"
	if id != "" {
		path = "/v1/queue/" + url.PathEscape(id) + "/retry"
	}
	var res RetryResult
	if err := c.do(ctx, http.MethodPost, path, &res); err != nil {
		return 0, fmt.Errorf("retrying: %w", err)
	}
	return res.Rescheduled, nil
}

// Delete removes message id from the queue.
func (c *AdminClient) Delete(ctx context.Context, id string) error {
	if err := c.do(ctx, http.MethodDelete, "/v1/queue/"+url.PathEscape(id), nil); err != nil {
		return fmt.Errorf("deleting %s: %w", id, err)
	}
	return nil
}

func (c *AdminClient) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, nil)
	if err != nil {
		return err
	}
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(bytes.NewReader(body)).Decode(out)
}

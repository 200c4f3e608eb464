package relay

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/plantbridge/plantbridge/relay/metrics"
	"github.com/plantbridge/plantbridge/relay/store"
	"github.com/plantbridge/plantbridge/relay/webhooks"
)

// Webhooks sets up webhook delivery for a relay over st, as cfg allows, and adds it to
// opts: the relay's events go to it, its API routes are mounted, and its dispatcher runs
// with the relay. The service is closed when the relay stops.
func Webhooks(cfg Config, st store.Store, log *slog.Logger, opts *Options, extra webhooks.Options) *webhooks.Service {
	extra.Logger = log
	extra.AllowHTTP = extra.AllowHTTP || cfg.Webhooks.AllowHTTP
	extra.AllowPrivate = extra.AllowPrivate || cfg.Webhooks.AllowPrivate
	extra.AllowLoopback = extra.AllowLoopback || cfg.Webhooks.AllowPrivate
	if extra.Now == nil {
		extra.Now = opts.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	extra.OnAttempt = opts.Metrics.WebhookAttempt
	svc := webhooks.New(st, extra)
	opts.Events = svc
	opts.Routes = append(opts.Routes, func(mux *http.ServeMux) { webhooks.NewAPI(svc, log).Register(mux) })
	opts.Workers = append(opts.Workers, func(ctx context.Context) {
		if err := svc.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("webhook dispatcher stopped", "err", err)
		}
		svc.Close()
	})
	return svc
}

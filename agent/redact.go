package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// Redacted replaces a secret in logs and reports.
const Redacted = "***"

// Scrubber replaces known secrets in text. The zero value replaces nothing.
type Scrubber struct {
	r *strings.Replacer
}

// NewScrubber returns a Scrubber for secrets (see Config.Secrets).
func NewScrubber(secrets ...string) Scrubber {
	// Longest first: the replacer tries its pairs in order, and a secret that contains
	// another must be replaced whole.
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, Redacted)
		}
	}
	if len(pairs) == 0 {
		return Scrubber{}
	}
	return Scrubber{strings.NewReplacer(pairs...)}
}

// String returns s with every secret replaced.
func (s Scrubber) String(text string) string {
	if s.r == nil {
		return text
	}
	return s.r.Replace(text)
}

// Handler wraps h so that no secret reaches it: not in the message, and not in any
// attribute, errors and values that format themselves included. Driver errors may quote
// a DSN, and a misconfigured proxy URL may carry a password; scrubbing at the handler
// catches whatever a call site did not think of.
func (s Scrubber) Handler(h slog.Handler) slog.Handler {
	if s.r == nil {
		return h
	}
	return &scrubHandler{h: h, s: s}
}

type scrubHandler struct {
	h slog.Handler
	s Scrubber
}

func (h *scrubHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.s.String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *scrubHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return &scrubHandler{h: h.h.WithAttrs(clean), s: h.s}
}

func (h *scrubHandler) WithGroup(name string) slog.Handler {
	return &scrubHandler{h: h.h.WithGroup(name), s: h.s}
}

func (h *scrubHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.s.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		clean := make([]any, len(g))
		for i, ga := range g {
			clean[i] = h.attr(ga)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, h.s.String(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, h.s.String(x.String()))
		default:
			// Structured values are kept as they are unless their text holds a secret.
			b, err := json.Marshal(x)
			if err != nil {
				return slog.String(a.Key, h.s.String(fmt.Sprint(x)))
			}
			if clean := h.s.String(string(b)); clean != string(b) {
				return slog.String(a.Key, clean)
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

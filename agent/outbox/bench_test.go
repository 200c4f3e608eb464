package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkPutPeekAck queues and drains batches of about 1 MiB, the largest a read
// makes, as the agent does during an initial sync: put, peek, ack, one after another.
// It reports MB/s of batch bodies.
func BenchmarkPutPeekAck(b *testing.B) {
	for _, compress := range []bool{false, true} {
		b.Run(fmt.Sprintf("compressed=%v", compress), func(b *testing.B) {
			c := int64(-1)
			if compress {
				c = 1
			}
			ob, err := Open(filepath.Join(b.TempDir(), "outbox.db"), Options{Logger: slog.New(slog.DiscardHandler), CompressAbove: c})
			if err != nil {
				b.Fatal(err)
			}
			defer ob.Close()
			recs := make([]string, 560)
			for i := range recs {
				recs[i] = fmt.Sprintf(`{"id":"wo_%d","remote_id":"SITE/%d","title":"Replace idlers on conveyor CV-%d","remote_data":{"DESCRIPTION":"x","ROWSTAMP":%d,"PAD":"%s"}}`,
					i, i, i, i, strings.Repeat("abcdefgh", 200))
			}
			body := json.RawMessage("[" + strings.Join(recs, ",") + "]")
			ctx := context.Background()
			// Keep a small backlog so that compression applies from the second batch.
			ob.Put(ctx, Batch{Model: "work_orders", Records: body, Count: len(recs)})
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := ob.Put(ctx, Batch{Model: "work_orders", Records: body, Count: len(recs), Watermark: "w"}); err != nil {
					b.Fatal(err)
				}
				it, ok, err := ob.Peek(ctx)
				if err != nil || !ok {
					b.Fatal(err)
				}
				if err := ob.Ack(it.Seq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

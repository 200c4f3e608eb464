package connectors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/plantbridge/plantbridge/connectors/dialect"
)

// rawRows holds the driver values of one page's rows, len(pl.cols) per row.
type rawRows struct {
	vals []any
	n    int
}

// row returns the values of row r.
func (rs *rawRows) row(r, ncols int) []any { return rs.vals[r*ncols : (r+1)*ncols] }

// scanRows runs one page query and keeps its rows in rs, reusing rs.vals.
func (c *SQLConnector) scanRows(ctx context.Context, pl *plan, q dialect.Select, rs *rawRows) error {
	sqlText, args, err := c.d.BuildSelect(q)
	if err != nil {
		return err
	}
	rows, err := c.db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := len(pl.cols)
	rs.vals, rs.n = rs.vals[:0], 0
	ptrs := make([]any, n)
	for rows.Next() {
		at := len(rs.vals)
		rs.vals = append(rs.vals, make([]any, n)...)
		for i := range ptrs {
			ptrs[i] = &rs.vals[at+i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		rs.n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// Closed before the page is handed on, so that a handle limited to one
	// connection is free for the line queries of the mapping side.
	return rows.Close()
}

// lastPosition is the position of the last row of rs, where the next page
// starts. Only the watermark and key columns are converted.
func (c *SQLConnector) lastPosition(pl *plan, rs *rawRows) position {
	raw := rs.row(rs.n-1, len(pl.cols))
	at := func(i int) any {
		// A value that does not convert is reported by the mapping side.
		conv, _ := dialect.Value(pl.meta[i].Kind, raw[i], c.loc)
		return posValue(pl.meta[i], raw[i], conv)
	}
	var pos position
	if pl.wm >= 0 {
		pos.wm = at(pl.wm)
	}
	pos.key = make([]any, len(pl.key))
	for i, k := range pl.key {
		pos.key[i] = at(k)
	}
	return pos
}

// scanByWatermark reads the page of q, which is ordered by the watermark
// and then the key, ordered by the watermark alone, one row more than the
// page. When no two of those rows share a watermark value (a rowversion
// never repeats), they come in the order of q, and the extra row shows that
// no row with the page's last value was left out; that order needs no sort
// beyond the watermark's index, where the full one makes SQLite sort every
// page (a fifth of its reading time). Otherwise the page is read again as
// q orders it, and so are the following ones: ok reports whether to go on
// trying.
func (c *SQLConnector) scanByWatermark(ctx context.Context, pl *plan, q dialect.Select, rs *rawRows) (ok bool, err error) {
	wq := q
	wq.OrderBy = q.OrderBy[:1]
	wq.Limit = q.Limit + 1
	if err := c.scanRows(ctx, pl, wq, rs); err != nil {
		return false, err
	}
	n := len(pl.cols)
	for r := 1; r < rs.n; r++ {
		if sameRaw(rs.vals[(r-1)*n+pl.wm], rs.vals[r*n+pl.wm]) {
			return false, c.scanRows(ctx, pl, q, rs)
		}
	}
	if rs.n > q.Limit {
		clear(rs.vals[q.Limit*n:])
		rs.n, rs.vals = q.Limit, rs.vals[:q.Limit*n]
	}
	return true, nil
}

// sameRaw reports whether two driver values of one column are equal.
func sameRaw(a, b any) bool {
	switch x := a.(type) {
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case string:
		y, ok := b.(string)
		return ok && x == y
	}
	return a == nil && b == nil || a != nil && b != nil && fmt.Sprint(a) == fmt.Sprint(b)
}

// readAhead is how many pages a read scans ahead of the page the caller
// is emitting: enough to keep every mapping worker busy, few enough to
// bound the memory of a read (a mapped page of a wide table is several MiB)
// whatever the size of the table.
const readAhead = mapWorkersMax

// mapWorkersMax is the most goroutines that map the pages of one read.
const mapWorkersMax = 2

// mapWorkers is how many goroutines map the pages of one large read.
// Mapping a row costs about as much as scanning it, so two keep pace with
// the scanning goroutine on a machine with two cores or more.
var mapWorkers = min(mapWorkersMax, runtime.GOMAXPROCS(0))

// pageReader reads the pages of one read: a goroutine runs the queries and
// scans the rows, mapping workers turn them into records, and next hands the
// pages to the caller in order. On a large read the database driver (a cgo
// call per row for SQLite, the network for the others) and the mapping then
// run in parallel, and the caller's emitting overlaps both.
type pageReader struct {
	c   *SQLConnector
	pl  *plan
	ctx context.Context

	pages  chan *pageJob // in scan order
	free   chan *rawRows // scanned rows whose page is mapped, for reuse
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// pageJob is one page on its way through the reader.
type pageJob struct {
	rows *rawRows
	last bool
	done chan struct{} // closed when page and err are set
	page *page
	err  error
}

// errPagesStopped is returned by next after the last page, or when the
// reader stopped without a page or an error.
var errPagesStopped = errors.New("page reader stopped")

// readPages starts reading q page by page, each page starting after the
// last row of the one before; after turns that row's position into the
// keyset. A page shorter than q.Limit is the last. m maps the pages of the
// first worker; further workers, started only once a read has a second
// page, get mappers of their own. The caller must call close.
//
// With byWatermark, q is ordered by the watermark and then the key, and the
// pages are first read ordered by the watermark alone, see scanByWatermark.
func (c *SQLConnector) readPages(ctx context.Context, pl *plan, m *mapper, q dialect.Select, byWatermark bool, after func(position) *dialect.Keyset) *pageReader {
	sctx, cancel := context.WithCancel(ctx)
	r := &pageReader{c: c, pl: pl, ctx: ctx, pages: make(chan *pageJob, readAhead), free: make(chan *rawRows, readAhead+mapWorkers+1), cancel: cancel}
	work := make(chan *pageJob, readAhead)
	worker := func(m *mapper) {
		defer r.wg.Done()
		for job := range work {
			job.page, job.err = c.mapRows(sctx, pl, m, job.rows)
			// The page keeps no reference to the scanned values.
			select {
			case r.free <- job.rows:
			default:
			}
			close(job.done)
		}
	}
	r.wg.Add(2)
	go worker(m)
	go func() {
		defer r.wg.Done()
		defer close(r.pages)
		defer close(work)
		for n := 0; ; n++ {
			if n == 1 {
				// A second page: the read is large enough for more workers.
				for range mapWorkers - 1 {
					wm, err := c.newMapper(sctx, pl)
					if err != nil {
						break // the first worker alone does the work
					}
					r.wg.Add(1)
					go worker(wm)
				}
			}
			var rs *rawRows
			select {
			case rs = <-r.free:
			default:
				rs = &rawRows{}
			}
			var err error
			if byWatermark {
				byWatermark, err = c.scanByWatermark(sctx, pl, q, rs)
			} else {
				err = c.scanRows(sctx, pl, q, rs)
			}
			job := &pageJob{rows: rs, done: make(chan struct{}), last: err != nil || rs.n < q.Limit || q.Limit <= 0}
			if err != nil {
				job.err = err
				close(job.done)
			} else if !job.last {
				q.After = after(c.lastPosition(pl, rs))
			}
			select {
			case r.pages <- job:
			case <-sctx.Done():
				return
			}
			if err == nil {
				select {
				case work <- job:
				case <-sctx.Done():
					return
				}
			}
			if job.last {
				return
			}
		}
	}()
	return r
}

// next returns the next page, mapped.
func (r *pageReader) next() (*page, error) {
	job, ok := <-r.pages
	if !ok {
		if err := r.ctx.Err(); err != nil {
			return nil, err
		}
		return nil, errPagesStopped
	}
	select {
	case <-job.done:
	case <-r.ctx.Done():
		return nil, r.ctx.Err()
	}
	return job.page, job.err
}

// close stops the scanning and mapping goroutines and waits for them. It is
// safe to call more than once.
func (r *pageReader) close() {
	r.cancel()
	r.wg.Wait()
}

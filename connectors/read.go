package connectors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// watermark is the decoded form of Batch.Watermark: the strategy and column
// it belongs to (a changed mapping restarts from the beginning), the value
// of the watermark column, and the key of the last row read, so that rows
// with an equal watermark value across a page boundary are neither skipped
// nor repeated. Time values are the source's wall-clock digits.
type watermark struct {
	Strategy string `json:"s"`
	Column   string `json:"c"`
	Value    string `json:"v"`
	Key      []any  `json:"k,omitempty"`
}

const naiveLayout = "2006-01-02T15:04:05.999999999"

// position is where a read stands: the watermark value and key values in
// bindable form.
type position struct {
	wm  any
	key []any
}

func (c *SQLConnector) encodeWatermark(pl *plan, pos position) string {
	if pl.wm < 0 || pos.wm == nil {
		return ""
	}
	w := watermark{Strategy: pl.strategy, Column: pl.meta[pl.wm].Name, Value: posString(pos.wm)}
	for _, k := range pos.key {
		if t, ok := k.(time.Time); ok {
			w.Key = append(w.Key, t.Format(naiveLayout))
			continue
		}
		w.Key = append(w.Key, k)
	}
	b, _ := json.Marshal(w)
	return string(b)
}

func posString(v any) string {
	switch x := v.(type) {
	case time.Time:
		return x.Format(naiveLayout)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}

// decodeWatermark returns the stored position, or ok=false to start over
// (empty, unreadable, or written for another strategy or column).
func (c *SQLConnector) decodeWatermark(pl *plan, s string) (position, bool) {
	if s == "" || pl.wm < 0 {
		return position{}, false
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var w watermark
	if err := dec.Decode(&w); err != nil {
		c.log.Warn("unreadable watermark, starting over", "model", pl.name, "err", err)
		return position{}, false
	}
	col := pl.meta[pl.wm]
	if w.Strategy != pl.strategy || !strings.EqualFold(w.Column, col.Name) {
		return position{}, false
	}
	v, err := parsePos(col.Kind, w.Value)
	if err != nil {
		return position{}, false
	}
	pos := position{wm: v}
	if len(w.Key) == len(pl.key) {
		for i, k := range w.Key {
			kv, err := parsePos(pl.meta[pl.key[i]].Kind, fmt.Sprint(k))
			if err != nil {
				return position{wm: v}, true
			}
			pos.key = append(pos.key, kv)
		}
	}
	return pos, true
}

func parsePos(k dialect.Kind, s string) (any, error) {
	switch k {
	case dialect.KindRowversion:
		return strconv.ParseUint(s, 10, 64)
	case dialect.KindInt:
		return strconv.ParseInt(s, 10, 64)
	case dialect.KindTime, dialect.KindDate, dialect.KindTimeTZ:
		return time.Parse(naiveLayout, s)
	}
	return s, nil
}

// posValue turns a scanned value into its position form.
func posValue(col *dialect.Column, raw, conv any) any {
	switch col.Kind {
	case dialect.KindTime, dialect.KindDate:
		if t, err := dialect.NaiveTime(raw); err == nil {
			return t
		}
	case dialect.KindTimeTZ:
		if t, ok := conv.(time.Time); ok {
			return t
		}
	case dialect.KindDats:
		return datsPosition(raw)
	}
	return conv
}

// bind converts a position value to a bound argument for col.
func (c *SQLConnector) bind(col *dialect.Column, v any) any {
	if col.Kind == dialect.KindTimeTZ {
		return v
	}
	return c.d.Bind(col.Kind, v)
}

// Read streams the records of req.Model; see Connector.
func (c *SQLConnector) Read(ctx context.Context, req ReadRequest, emit func(Batch) error) error {
	pl, err := c.plan(req.Model)
	if err != nil {
		return err
	}
	if req.BatchSize <= 0 || req.BatchSize > MaxBatchRecords {
		req.BatchSize = MaxBatchRecords
	}
	m, err := c.newMapper(ctx, pl)
	if err != nil {
		return err
	}
	if pl.strategy == profiles.RowHash {
		err = c.readRowHash(ctx, pl, m, req, emit)
	} else {
		err = c.readOrdered(ctx, pl, m, req, emit)
	}
	if err != nil {
		return wrap("read "+req.Model, pl.table.Name, err)
	}
	return nil
}

func (c *SQLConnector) baseSelect(pl *plan) dialect.Select {
	return dialect.Select{Table: pl.table.Name, Alias: "t", Columns: pl.cols, Joins: pl.joins,
		Filters: append([]dialect.Filter(nil), pl.filters...)}
}

func (c *SQLConnector) historyFilter(pl *plan, q *dialect.Select, window time.Duration) {
	if window <= 0 || pl.history < 0 {
		return
	}
	col := pl.meta[pl.history]
	since := c.now().Add(-window)
	var v any = since.UTC()
	if col.Kind != dialect.KindTimeTZ {
		v = c.d.Bind(col.Kind, dialect.UTCToLocal(since, c.loc))
	}
	q.Filters = append(q.Filters, dialect.Filter{Col: pl.cols[pl.history], Op: dialect.OpGE, Values: []any{v}})
}

// readOrdered reads models with a watermark column. Incremental reads page
// by (watermark, key) from the stored position. A full re-sync pages by key
// and stores at the end the watermark maximum taken before it started:
// anything that changes during the scan has a larger value and is read again
// by the next incremental read.
func (c *SQLConnector) readOrdered(ctx context.Context, pl *plan, m *mapper, req ReadRequest, emit func(Batch) error) error {
	wmCol := pl.meta[pl.wm]
	q := c.baseSelect(pl)
	q.Limit = req.BatchSize
	if wmCol.Kind == dialect.KindRowversion {
		q.BelowActiveRowversion = &pl.cols[pl.wm]
	}
	orderCols := append([]dialect.Col{pl.cols[pl.wm]}, pl.keyCols...)
	keyMeta := make([]*dialect.Column, len(pl.key))
	for i, k := range pl.key {
		keyMeta[i] = pl.meta[k]
	}
	stored := req.Watermark
	finalWM := ""
	ov := &overlapMark{c: c, pl: pl}
	if req.Full {
		c.historyFilter(pl, &q, req.HistoryWindow)
		q.OrderBy = pl.keyCols
		top, err := c.maxWatermark(ctx, pl)
		if err != nil {
			return err
		}
		finalWM = c.encodeWatermark(pl, position{wm: top})
		if top == nil {
			finalWM = req.Watermark
		}
		ov.stored = top
	} else {
		q.OrderBy = orderCols
		if pos, ok := c.decodeWatermark(pl, req.Watermark); ok {
			switch {
			case pl.strategy == profiles.DateOverlap:
				ov.stored = pos.wm
				if from, ok := c.overlapFrom(pl, pos.wm); ok {
					c.applyOverlap(pl, &q, from)
				}
			case pl.strategy == profiles.TimestampColumn && pl.overlap > 0:
				// A lookback: a row saved with a time before the stored one but
				// committed after it was read is read again rather than missed.
				if from, ok := c.overlapFrom(pl, pos.wm); ok {
					q.After = &dialect.Keyset{Cols: orderCols[:1], Values: []any{from}, Inclusive: true}
				}
			case len(pos.key) == len(pl.key):
				vals := []any{c.bind(wmCol, pos.wm)}
				for i, k := range pos.key {
					vals = append(vals, c.bind(keyMeta[i], k))
				}
				q.After = &dialect.Keyset{Cols: orderCols, Values: vals}
			default:
				// A position without a key (after a full re-sync): rows at
				// exactly that value may have committed after it was taken.
				q.After = &dialect.Keyset{Cols: orderCols[:1], Values: []any{c.bind(wmCol, pos.wm)}, Inclusive: true}
			}
		}
	}
	byWM := !req.Full && pl.strategy == profiles.Rowversion
	pages := c.readPages(ctx, pl, m, q, byWM, func(lp position) *dialect.Keyset {
		if req.Full {
			vals := make([]any, len(lp.key))
			for i, k := range lp.key {
				vals[i] = c.bind(keyMeta[i], k)
			}
			return &dialect.Keyset{Cols: pl.keyCols, Values: vals}
		}
		vals := []any{c.bind(wmCol, lp.wm)}
		for i, k := range lp.key {
			vals = append(vals, c.bind(keyMeta[i], k))
		}
		return &dialect.Keyset{Cols: orderCols, Values: vals}
	})
	defer pages.close()
	for {
		page, err := pages.next()
		if err != nil {
			return err
		}
		last := len(page.recs) < req.BatchSize
		ov.page(page)
		if err := c.emitPage(pl, page, req, last, func(b *Batch, lastPos position) {
			if req.Full {
				b.Watermark = stored
				if last && b.Final {
					b.Watermark = finalWM
					if pl.strategy == profiles.DateOverlap {
						b.Watermark = ov.full(ov.stored, finalWM)
					}
				}
				return
			}
			if pl.strategy == profiles.DateOverlap {
				lastPos = ov.position(b, lastPos, last)
			}
			b.Watermark = c.encodeWatermark(pl, lastPos)
			stored = b.Watermark
		}, emit); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}

// maxWatermark returns the largest watermark value, in position form.
func (c *SQLConnector) maxWatermark(ctx context.Context, pl *plan) (any, error) {
	q := c.baseSelect(pl)
	q.Columns = []dialect.Col{pl.cols[pl.wm]}
	q.OrderBy = nil
	q.Joins = nil
	q.Max = true
	sqlText, args, err := c.d.BuildSelect(q)
	if err != nil {
		return nil, err
	}
	var raw any
	if err := c.db.QueryRowContext(ctx, sqlText, args...).Scan(&raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, nil
	}
	wmCol := pl.meta[pl.wm]
	if wmCol.Kind == dialect.KindDats {
		// A largest value that is no date (letters sort after digits)
		// must not become the watermark; keep the stored one instead.
		return c.wmMax(pl, nil, datsPosition(raw)), nil
	}
	conv, err := dialect.Value(wmCol.Kind, raw, c.loc)
	if err != nil {
		return nil, err
	}
	return posValue(wmCol, raw, conv), nil
}

// page is one query's worth of mapped records.
type page struct {
	recs []model.Record
	pos  []position
	size []int
	hash []string
}

func (c *SQLConnector) fetchPage(ctx context.Context, pl *plan, m *mapper, q dialect.Select) (*page, error) {
	var rs rawRows
	if err := c.scanRows(ctx, pl, q, &rs); err != nil {
		return nil, err
	}
	return c.mapRows(ctx, pl, m, &rs)
}

// mapRows converts and maps the rows of one page and reads their lines.
func (c *SQLConnector) mapRows(ctx context.Context, pl *plan, m *mapper, rs *rawRows) (*page, error) {
	n := len(pl.cols)
	conv := make([]any, n)
	p := &page{recs: make([]model.Record, 0, rs.n), pos: make([]position, 0, rs.n), size: make([]int, 0, rs.n)}
	var parentOn [][]any
	var relKeys [][][]any
	for r := range rs.n {
		raw := rs.row(r, n)
		for i, v := range raw {
			cv, err := m.conv.Value(pl.meta[i].Kind, v)
			if err != nil {
				if cv, err = m.invalid(pl.meta[i].Name, v, err); err != nil {
					return nil, fmt.Errorf("column %s: %w", pl.meta[i].Name, err)
				}
			}
			conv[i] = cv
		}
		// Positions and the keys of lines and related rows go back into
		// SQL, so they keep the values exactly as stored, padding included.
		var pos position
		if pl.wm >= 0 {
			pos.wm = posValue(pl.meta[pl.wm], raw[pl.wm], conv[pl.wm])
		}
		pos.key = make([]any, len(pl.key))
		for i, k := range pl.key {
			pos.key[i] = posValue(pl.meta[k], raw[k], conv[k])
		}
		if len(pl.children) > 0 {
			for _, ch := range pl.children {
				vals := make([]any, len(ch.on))
				for i, pi := range ch.on {
					vals[i] = conv[pi]
				}
				parentOn = append(parentOn, vals)
			}
		}
		if len(pl.related) > 0 {
			relKeys = append(relKeys, relatedKeys(pl, conv))
		}
		// What the record shows has the blanks of fixed-width columns
		// trimmed: 'PM01      ' is the code PM01.
		for _, i := range pl.padded {
			conv[i] = dialect.TrimPadding(conv[i])
		}
		rec, size := m.record(conv)
		p.recs = append(p.recs, rec)
		p.pos = append(p.pos, pos)
		p.size = append(p.size, size)
		if pl.strategy == profiles.RowHash {
			p.hash = append(p.hash, rowHash(pl, conv))
		}
	}
	if len(pl.children) > 0 && len(p.recs) > 0 {
		if err := c.fillChildren(ctx, pl, m, p, parentOn); err != nil {
			return nil, err
		}
		if pl.strategy == profiles.RowHash {
			for i := range p.recs {
				p.hash[i] = linesHash(p.hash[i], pl, p.recs[i])
			}
		}
	}
	if len(pl.related) > 0 && len(p.recs) > 0 {
		if err := c.fillRelated(ctx, pl, m, p, relKeys); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// emitPage splits a page into batches of at most MaxBatchBytes (estimated
// encoded size) and emits them. setWM fills in each batch's watermark from
// the position of its last record.
func (c *SQLConnector) emitPage(pl *plan, p *page, req ReadRequest, lastPage bool, setWM func(*Batch, position), emit func(Batch) error) error {
	start, size := 0, 0
	flush := func(end int, final bool) error {
		b := Batch{Model: pl.name, Records: p.recs[start:end:end], Final: final && req.Full}
		var lp position
		if end > 0 {
			lp = p.pos[end-1]
		}
		setWM(&b, lp)
		start, size = end, 0
		if len(b.Records) == 0 && !b.Final {
			return nil
		}
		return emit(b)
	}
	for i := range p.recs {
		if size > 0 && size+p.size[i] > MaxBatchBytes {
			if err := flush(i, false); err != nil {
				return err
			}
		}
		size += p.size[i]
	}
	if start < len(p.recs) || lastPage {
		return flush(len(p.recs), lastPage)
	}
	return nil
}

// rowHash hashes a row's selected values; a change in any mapped or raw
// column changes it.
func rowHash(pl *plan, conv []any) string {
	h := sha256.New()
	var buf []byte
	for i, v := range conv {
		buf = append(buf[:0], pl.rawName[i]...)
		buf = append(buf, 0)
		buf = appendValue(buf, v)
		buf = append(buf, 1)
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'N')
	case string:
		return append(append(b, 'S'), x...)
	case int64:
		return strconv.AppendInt(append(b, 'I'), x, 10)
	case uint64:
		return strconv.AppendUint(append(b, 'U'), x, 10)
	case float64:
		return strconv.AppendFloat(append(b, 'F'), x, 'g', -1, 64)
	case bool:
		return strconv.AppendBool(append(b, 'B'), x)
	case time.Time:
		return x.UTC().AppendFormat(append(b, 'T'), time.RFC3339Nano)
	case []byte:
		return append(append(b, 'X'), x...)
	}
	return fmt.Append(append(b, '?'), v)
}

// readRowHash scans the whole table by key, emits rows whose hash differs
// from the snapshot (every row on a full re-sync), then emits deletions for
// snapshot keys the scan did not see. The seen set holds 64-bit hashes of
// remote ids to keep memory at 8 bytes per row; a collision can only hide a
// deletion until the next full re-sync, never invent one.
func (c *SQLConnector) readRowHash(ctx context.Context, pl *plan, m *mapper, req ReadRequest, emit func(Batch) error) error {
	q := c.baseSelect(pl)
	q.Limit = req.BatchSize
	q.OrderBy = pl.keyCols
	keyMeta := make([]*dialect.Column, len(pl.key))
	for i, k := range pl.key {
		keyMeta[i] = pl.meta[k]
	}
	seen := make(map[uint64]struct{})
	var pending []model.Record
	pendingHashes := map[string]string{}
	pendingSize := 0
	flush := func(final bool) error {
		if len(pending) == 0 && !final {
			return nil
		}
		b := Batch{Model: pl.name, Records: pending, Watermark: req.Watermark, Hashes: pendingHashes, Final: final && req.Full}
		pending, pendingHashes, pendingSize = nil, map[string]string{}, 0
		return emit(b)
	}
	pages := c.readPages(ctx, pl, m, q, false, func(lp position) *dialect.Keyset {
		vals := make([]any, len(lp.key))
		for i, k := range lp.key {
			vals[i] = c.bind(keyMeta[i], k)
		}
		return &dialect.Keyset{Cols: pl.keyCols, Values: vals}
	})
	defer pages.close()
	for {
		p, err := pages.next()
		if err != nil {
			return err
		}
		for i := range p.recs {
			rid := p.recs[i].RemoteID
			seen[keyHash(rid)] = struct{}{}
			if req.Snapshot != nil && !req.Full {
				old, ok, err := req.Snapshot.Hash(pl.name, rid)
				if err != nil {
					return fmt.Errorf("snapshot: %w", err)
				}
				if ok && old == p.hash[i] {
					continue
				}
			}
			if len(pending) >= req.BatchSize || pendingSize+p.size[i] > MaxBatchBytes {
				if err := flush(false); err != nil {
					return err
				}
			}
			pending = append(pending, p.recs[i])
			pendingHashes[rid] = p.hash[i]
			pendingSize += p.size[i]
		}
		if len(p.recs) < req.BatchSize {
			break
		}
	}
	if req.Snapshot != nil {
		err := req.Snapshot.Keys(pl.name, func(rid string) error {
			if _, ok := seen[keyHash(rid)]; ok {
				return nil
			}
			if len(pending) >= req.BatchSize {
				if err := flush(false); err != nil {
					return err
				}
			}
			pending = append(pending, model.Record{ID: model.RecordID(c.cfg.ConnectionID, pl.name, rid), RemoteID: rid, Model: pl.name, RemoteWasDeleted: true})
			pendingHashes[rid] = ""
			return nil
		})
		if err != nil {
			return err
		}
	}
	return flush(true)
}

// linesHash folds a record's lines into its row hash, so that a row_hash
// model notices a changed line whose header row stayed the same (an MP2
// receipt updates PURREQ, not always POHEADER).
func linesHash(h string, pl *plan, rec model.Record) string {
	s := sha256.New()
	s.Write([]byte(h))
	var buf []byte
	for _, ch := range pl.children {
		lines, _ := rec.Fields[ch.field].([]map[string]any)
		for _, l := range lines {
			for _, f := range ch.fields {
				buf = append(buf[:0], f.name...)
				buf = append(buf, 0)
				buf = appendValue(buf, l[f.name])
				buf = append(buf, 1)
				s.Write(buf)
			}
			s.Write([]byte{2})
		}
		s.Write([]byte{3})
	}
	return hex.EncodeToString(s.Sum(nil)[:16])
}

func keyHash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// ReadByKey reads one record by remote id.
func (c *SQLConnector) ReadByKey(ctx context.Context, modelName, remoteID string) (*model.Record, error) {
	pl, err := c.plan(modelName)
	if err != nil {
		return nil, err
	}
	rec, err := c.readByKey(ctx, pl, remoteID)
	if err != nil {
		return nil, wrap("read "+modelName, pl.table.Name, err)
	}
	return rec, nil
}

func (c *SQLConnector) readByKey(ctx context.Context, pl *plan, remoteID string) (*model.Record, error) {
	parts := model.SplitKey(remoteID)
	if len(parts) != len(pl.key) {
		return nil, fmt.Errorf("remote id %q: want %d key parts: %w", remoteID, len(pl.key), ErrNotFound)
	}
	row := make([]any, len(parts))
	for i, p := range parts {
		v, err := keyArg(pl.meta[pl.key[i]], p)
		if err != nil {
			return nil, fmt.Errorf("remote id %q: %w", remoteID, ErrNotFound)
		}
		row[i] = c.bind(pl.meta[pl.key[i]], v)
	}
	m, err := c.newMapper(ctx, pl)
	if err != nil {
		return nil, err
	}
	q := c.baseSelect(pl)
	// A record outside the profile's filters is still the record asked
	// for, unless a filter scopes the connection's data (SAP's client).
	q.Filters = append([]dialect.Filter(nil), pl.scope...)
	q.KeysIn = &dialect.KeysIn{Cols: pl.keyCols, Rows: [][]any{row}}
	p, err := c.fetchPage(ctx, pl, m, q)
	if err != nil {
		return nil, err
	}
	if len(p.recs) == 0 {
		return nil, fmt.Errorf("%s %q: %w", pl.name, remoteID, ErrNotFound)
	}
	return &p.recs[0], nil
}

// keyArg parses one remote-id part for a key column.
func keyArg(col *dialect.Column, s string) (any, error) {
	switch col.Kind {
	case dialect.KindInt:
		return strconv.ParseInt(s, 10, 64)
	case dialect.KindTime, dialect.KindDate:
		return time.Parse(naiveLayout, s)
	}
	return s, nil
}

// fillChildren reads the lines of a page's records. Parents are looked up
// in chunks so the statement stays under SQL Server's 2,100 parameters and
// Oracle's 1,000 list entries.
func (c *SQLConnector) fillChildren(ctx context.Context, pl *plan, m *mapper, p *page, parentOn [][]any) error {
	nch := len(pl.children)
	for ci, ch := range pl.children {
		lines := map[string][]map[string]any{}
		var keys [][]any
		idx := map[string]bool{}
		for r := range p.recs {
			vals := parentOn[r*nch+ci]
			k := tupleKey(vals)
			if !idx[k] {
				idx[k] = true
				row := make([]any, len(vals))
				for i, v := range vals {
					row[i] = c.bind(ch.meta[i], v)
				}
				keys = append(keys, row)
			}
		}
		chunk := 900 / max(1, len(ch.on))
		for s := 0; s < len(keys); s += chunk {
			e := min(s+chunk, len(keys))
			q := dialect.Select{Table: ch.table.Name, Alias: "c", Columns: ch.cols, Filters: ch.filters,
				KeysIn: &dialect.KeysIn{Cols: ch.onChild, Rows: keys[s:e]}, OrderBy: ch.order}
			sqlText, args, err := c.d.BuildSelect(q)
			if err != nil {
				return err
			}
			if err := c.scanChild(ctx, ch, m, sqlText, args, lines); err != nil {
				return fmt.Errorf("read %s: %w", ch.table.Name, err)
			}
		}
		for r := range p.recs {
			l := lines[tupleKey(parentOn[r*nch+ci])]
			if l == nil {
				l = []map[string]any{}
			}
			p.recs[r].Fields[ch.field] = l
			for _, line := range l {
				p.size[r] += estimateMap(line)
			}
		}
	}
	return nil
}

func (c *SQLConnector) scanChild(ctx context.Context, ch *childPlan, m *mapper, sqlText string, args []any, lines map[string][]map[string]any) error {
	convert := func(col *dialect.Column, v any) (any, error) {
		cv, err := m.value(col, v)
		if err != nil {
			return m.invalid(col.Name, v, err)
		}
		return cv, nil
	}
	return c.queryEach(ctx, sqlText, args, ch.meta, convert, func(conv []any) error {
		m.rid = "" // a line's record is not known here
		m.flushInvalid()
		line := make(map[string]any, len(ch.fields))
		for _, f := range ch.fields {
			m.field(line, f, conv)
		}
		k := tupleKey(conv[:ch.nOn])
		lines[k] = append(lines[k], line)
		return nil
	})
}

// queryEach runs a query and calls fn with each row, its values converted from their
// columns' kinds by convert. fn must not keep the slice: it is reused for every row.
func (c *SQLConnector) queryEach(ctx context.Context, sqlText string, args []any, meta []*dialect.Column,
	convert func(col *dialect.Column, v any) (any, error), fn func(vals []any) error) error {
	rows, err := c.db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := len(meta)
	raw := make([]any, n)
	ptrs := make([]any, n)
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	conv := make([]any, n)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range raw {
			cv, err := convert(meta[i], v)
			if err != nil {
				return fmt.Errorf("column %s: %w", meta[i].Name, err)
			}
			conv[i] = cv
		}
		if err := fn(conv); err != nil {
			return err
		}
	}
	return rows.Err()
}

// tupleKey is the lookup key of a tuple of values that match a record with
// its lines or related rows. Trailing blanks of text do not count, as in the
// blank-padded comparison of CHAR columns: a parent's 'PL01  ' matches a
// line's 'PL01'.
func tupleKey(vals []any) string {
	var b []byte
	for _, v := range vals {
		b = appendValue(b, dialect.TrimPadding(v))
		b = append(b, 0)
	}
	return string(b)
}

// estimateSize is the JSON-encoded size of a value: exact for strings
// (escapes counted as encoding/json writes them) and close for the rest.
func estimateSize(v any) int {
	switch x := v.(type) {
	case nil:
		return 4
	case string:
		return estimateString(x)
	case int64:
		return 20
	case uint64:
		return 20
	case float64:
		return 24
	case bool:
		return 5
	case time.Time:
		return 32
	case []string:
		n := 2
		for _, s := range x {
			n += estimateString(s) + 1
		}
		return n
	case []byte:
		return 2 + (len(x)+2)/3*4
	case map[string]any:
		return estimateMap(x)
	case []map[string]any:
		n := 2
		for _, m := range x {
			n += estimateMap(m) + 1
		}
		return n
	}
	return 64
}

// estimateString is the exact JSON-encoded size of a string, escapes
// counted as encoding/json writes them.
func estimateString(s string) int {
	n := 2 + len(s)
	for i := 0; i < len(s); i++ {
		n += int(jsonExtra[s[i]])
	}
	return n
}

// jsonExtra is how many bytes beyond one encoding/json writes for a byte
// of a string.
var jsonExtra = func() (t [256]uint8) {
	for ch := range 0x20 {
		t[ch] = 5
	}
	t['"'], t['\\'] = 1, 1
	t['<'], t['>'], t['&'] = 5, 5, 5
	return t
}()

func estimateMap(m map[string]any) int {
	n := 2
	for k, v := range m {
		n += len(k) + 4 + estimateSize(v)
	}
	return n
}

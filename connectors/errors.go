package connectors

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "github.com/mattn/go-sqlite3"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/plantbridge/plantbridge/connectors/model"
)

// Class is what a caller does about an error: report the plant offline,
// ask for new credentials, back off, or reject the request.
type Class int

// Error classes.
const (
	// Other is an error of no known class (a bug, bad data in the source).
	Other Class = iota
	// Unreachable: the database cannot be reached (network, DNS, listener down).
	Unreachable
	// AuthFailed: the database rejected the credentials, or the account is locked or expired.
	AuthFailed
	// PermissionDenied: logged in, but not allowed to read or write the object.
	PermissionDenied
	// Busy: the source is rate-limited, locked, out of connections, or timed out.
	Busy
	// BadRequest: the request or mapping is invalid; retrying will not help.
	BadRequest
)

var classNames = [...]string{"other", "unreachable", "auth_failed", "permission_denied", "busy", "bad_request"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Error wraps a driver error with its class and the step it happened in.
type Error struct {
	Class Class
	// Table is the source table involved, if any.
	Table string
	// Op is the step, such as "read work_orders" or "discover".
	Op  string
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Table != "" {
		b.WriteString(" (table " + e.Table + ")")
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString(e.Class.String())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// wrap classifies err and wraps it as *Error; nil stays nil.
func wrap(op, table string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Class: Classify(err), Table: table, Op: op, Err: err}
}

// ValidationError lists the problems with a write request; nothing was sent
// to the database.
type ValidationError struct {
	Fields []model.FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// ErrNotFound is returned (wrapped) when a record or model does not exist.
var ErrNotFound = errors.New("not found")

// oraCode finds Oracle error codes in text. godror's *OraErr has
// unexported fields, so tests cannot build one; its Error() text always
// carries "ORA-NNNNN", and so do errors relayed by other layers, so the
// text is the one form every Oracle error has.
var oraCode = regexp.MustCompile(`ORA-(\d{5})`)

// Classify tells what kind of failure err is. It looks through wrapping for
// the driver error types of the four databases, then for network errors,
// then for context errors.
//
// A context deadline counts as Busy: the deadline is the engine's own
// statement timeout, and a database that answers too slowly is usually
// overloaded or blocked on locks. A database that cannot be reached at all
// fails with a network error first, which is Unreachable. context.Canceled
// is Other: the caller gave up, nothing is wrong with the source.
func Classify(err error) Class {
	if err == nil {
		return Other
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return BadRequest
	}
	if errors.Is(err, ErrNotFound) {
		return BadRequest
	}
	var me mssql.Error
	if errors.As(err, &me) {
		return classifyMSSQL(me.Number)
	}
	var mep *mssql.Error
	if errors.As(err, &mep) && mep != nil {
		return classifyMSSQL(mep.Number)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return classifyPostgres(pe.Code)
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return classifySQLite(se.Code)
	}
	if c, ok := classifyOracle(err); ok {
		return c
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		// godror's *OraErr and anything shaped like it.
		if c, ok := oracleClass(coded.Code()); ok {
			return c
		}
	}
	// Before the net.Error check: context.DeadlineExceeded is a net.Error
	// with Timeout() true.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		var oe *net.OpError
		if !errors.As(err, &oe) {
			return Busy
		}
	}
	var ne net.Error
	var oe *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr), errors.As(err, &oe),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, driver.ErrBadConn):
		return Unreachable
	case errors.As(err, &ne) && ne.Timeout():
		return Unreachable
	}
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"),
		strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "network is unreachable"):
		return Unreachable
	}
	return Other
}

func classifyMSSQL(n int32) Class {
	switch n {
	case 18456, 18452, 18486, 18487, 18488, 4060:
		// 18456 login failed; 18486 locked; 18487/18488 password expired;
		// 4060 cannot open the database requested by the login.
		return AuthFailed
	case 229, 230, 262, 300:
		return PermissionDenied
	case 1205, 1222, -2, 10928, 10929, 40501, 40197:
		// Deadlock victim, lock timeout, timeout, resource limits, service busy.
		return Busy
	case 208, 207, 102, 156, 8152, 515, 547, 2627, 2601:
		return BadRequest
	}
	return Other
}

func classifyPostgres(code string) Class {
	switch {
	case code == "28P01" || code == "28000":
		return AuthFailed
	case code == "42501":
		return PermissionDenied
	case code == "53300" || code == "57P03" || code == "55P03" || code == "40001" || code == "40P01" || code == "57014" || code == "53000":
		return Busy
	case strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02":
		// 57P01/57P02: the server is shutting down or crashed, and says so on
		// the connections it ends; the next attempt finds nobody listening.
		return Unreachable
	case strings.HasPrefix(code, "22") || strings.HasPrefix(code, "23") || code == "42P01" || code == "42703" || code == "42601":
		return BadRequest
	}
	return Other
}

func classifySQLite(code sqlite3.ErrNo) Class {
	switch code {
	case sqlite3.ErrBusy, sqlite3.ErrLocked:
		return Busy
	case sqlite3.ErrCantOpen, sqlite3.ErrNotADB:
		return Unreachable
	case sqlite3.ErrPerm, sqlite3.ErrReadonly:
		return PermissionDenied
	case sqlite3.ErrAuth:
		return AuthFailed
	case sqlite3.ErrConstraint, sqlite3.ErrMismatch, sqlite3.ErrTooBig:
		return BadRequest
	}
	return Other
}

func classifyOracle(err error) (Class, bool) {
	msg := err.Error()
	if strings.Contains(msg, "DPI-1047") {
		return Unreachable, true
	}
	m := oraCode.FindStringSubmatch(msg)
	if m == nil {
		return Other, false
	}
	n, _ := strconv.Atoi(m[1])
	return oracleClass(n)
}

func oracleClass(n int) (Class, bool) {
	switch n {
	case 1017, 28000, 28001, 1005, 28009:
		return AuthFailed, true
	case 1031, 942, 1749:
		// ORA-00942 is "table or view does not exist", which Oracle also
		// says when the table exists but the user may not see it.
		return PermissionDenied, true
	case 12541, 12514, 12170, 3113, 3114, 12543, 12545, 12537, 12505, 1034, 12528:
		return Unreachable, true
	case 54, 60, 30006, 18, 20, 1013:
		return Busy, true
	case 1400, 1, 1722, 12899, 1438, 904:
		return BadRequest, true
	}
	return Other, false
}

// errOracleClient is the message for a missing Oracle client library.
const errOracleClient = "Oracle client library not installed: install Oracle Instant Client (Basic or Basic Light) and put it on LD_LIBRARY_PATH (Linux) or PATH (Windows)"

// explainOracleClient replaces godror's DPI-1047 with a clear instruction.
func explainOracleClient(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, "DPI-1047") || strings.Contains(msg, "Cannot locate a 64-bit Oracle Client library") {
		return &Error{Class: Unreachable, Op: "open oracle", Err: fmt.Errorf("%s (%w)", errOracleClient, err)}
	}
	return err
}

//go:build cgo

package dialect

import (
	"database/sql"

	// Registers "godror"; needs cgo and, at run time, Oracle Instant Client.
	_ "github.com/godror/godror"
)

func openOracle(dsn string) (*sql.DB, error) { return sql.Open("godror", dsn) }

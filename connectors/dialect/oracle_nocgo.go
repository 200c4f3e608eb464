//go:build !cgo

package dialect

import (
	"database/sql"
	"errors"
)

// ErrOracleNeedsCgo is returned when Oracle is used from a build without cgo:
// godror links the Oracle client through cgo.
var ErrOracleNeedsCgo = errors.New("oracle support needs a cgo build of plantbridge (CGO_ENABLED=1)")

func openOracle(string) (*sql.DB, error) { return nil, ErrOracleNeedsCgo }

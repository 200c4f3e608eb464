package dialect

import (
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

// sqlServerLocal binds a wall-clock time as datetime2 rather than the
// driver's default datetimeoffset, so comparisons with DATETIME columns do
// not shift by an offset.
func sqlServerLocal(t time.Time) any { return mssql.DateTime1(t) }

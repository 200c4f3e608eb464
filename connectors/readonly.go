package connectors

import (
	"errors"
	"fmt"

	"github.com/plantbridge/plantbridge/connectors/model"
)

// ErrReadOnly is returned (wrapped, in an *Error of class BadRequest) for a
// write to a model that accepts no writes at all, so that an API can answer
// with a code of its own rather than a generic bad request.
var ErrReadOnly = errors.New("read-only")

// notWritable says why pl does not accept a write of kind op: the profile's
// reason when it gives one (SAP: changes go through BAPIs or IDocs), else
// that the mapping declares no writes, or none of this kind.
func (c *SQLConnector) notWritable(pl *plan, op model.Op) error {
	switch {
	case pl.src.ReadOnly != "":
		return fmt.Errorf("%s of %s are %w: %s", pl.name, c.profile.System, ErrReadOnly, pl.src.ReadOnly)
	case pl.write == nil:
		return fmt.Errorf("%s of %s are %w: the mapping declares no writes", pl.name, c.profile.System, ErrReadOnly)
	}
	return fmt.Errorf("%s does not accept %q writes", pl.name, op)
}

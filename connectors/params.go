package connectors

import (
	"fmt"
	"strings"

	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// connParams returns the profile's params with the connection's overrides
// applied. Overrides may only set params the profile declares: a misspelt
// name would otherwise leave the default in force without a word.
func connParams(p *profiles.Profile, o *Overrides) (map[string]string, error) {
	out := make(map[string]string, len(p.Params))
	for k, v := range p.Params {
		out[k] = v
	}
	if o == nil {
		return out, nil
	}
	var unknown []string
	for _, k := range profiles.SortedKeys(o.Params) {
		if _, ok := p.Params[k]; !ok {
			unknown = append(unknown, fmt.Sprintf("%q", k))
			continue
		}
		out[k] = o.Params[k]
	}
	if len(unknown) > 0 {
		declared := profiles.SortedKeys(p.Params)
		if len(declared) == 0 {
			return out, fmt.Errorf("%s: the %s profile has no params", strings.Join(unknown, ", "), p.System)
		}
		return out, fmt.Errorf("%s: not a param of the %s profile (it has %s)", strings.Join(unknown, ", "), p.System, strings.Join(declared, ", "))
	}
	return out, nil
}

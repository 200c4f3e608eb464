// Package testbin finds the outside programs that some tests need (a proxy, a database
// server, a browser). When one is missing the test is skipped on a developer machine but
// fails in CI (CI=true), where .ci/run is expected to have installed it.
package testbin

import (
	"os"
	"os/exec"
	"testing"
)

// Find returns the path of the named program, looking on PATH and then at the given
// paths. pkg names the Debian package that provides it, for the message.
func Find(tb testing.TB, name, pkg string, paths ...string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	Missing(tb, name+" not found (Debian package "+pkg+")")
	return ""
}

// Missing skips the test, or fails it in CI.
func Missing(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s: required in CI", why)
	}
	tb.Skip(why)
}

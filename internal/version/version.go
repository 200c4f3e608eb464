// Package version holds the build's version, set by the Makefile from git.
package version

// Version is the release version, or "dev" for builds outside the Makefile.
var Version = "dev"

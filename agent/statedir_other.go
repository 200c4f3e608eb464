//go:build !windows

package agent

import "os"

// restrictDir makes dir accessible to its owner only.
func restrictDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 == 0 {
		return nil
	}
	return os.Chmod(dir, 0o700)
}

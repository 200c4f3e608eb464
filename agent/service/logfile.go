package service

import (
	"os"
	"sync"
)

// LogFile is an append-only log file that starts over when it reaches its size limit,
// keeping the previous file as name.1, so that a service running for years keeps at
// most twice the limit on disk. The agent logs to one when it runs as a Windows service,
// where stderr goes nowhere.
type LogFile struct {
	path string
	max  int64

	mu   sync.Mutex // guards the fields below
	f    *os.File
	size int64
}

// OpenLogFile opens (or creates, mode 0600) the log file at path.
func OpenLogFile(path string, maxBytes int64) (*LogFile, error) {
	l := &LogFile{path: path, max: maxBytes}
	if err := l.openLocked(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *LogFile) openLocked() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Write appends p, first rotating the file if p would take it past the limit.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	if l.size > 0 && l.size+int64(len(p)) > l.max {
		l.f.Close()
		l.f = nil
		// Windows cannot rename over an open file, hence the close first.
		os.Rename(l.path, l.path+".1")
		if err := l.openLocked(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// Close closes the file; it is safe to call twice.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

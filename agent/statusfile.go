package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// StatusFileName is the name, in the state dir, of the file the running agent keeps its
// status in, for `plantbridge-agent status` and `diagnose`.
const StatusFileName = "status.json"

// StatusInterval is how often the running agent rewrites its status file.
const StatusInterval = 5 * time.Second

// StatusFile is the running agent's status as it writes it to the state dir: what it
// reports to the relay, plus the tunnel's state, which the relay cannot report while the
// tunnel is down.
type StatusFile struct {
	wire.AgentStatus
	Tunnel tunnel.Status `json:"tunnel"`
	// PID is the agent's process id.
	PID int `json:"pid"`
	// UpdatedAt is when the agent wrote the file.
	UpdatedAt time.Time `json:"updated_at"`
}

// WriteStatusFile replaces the status file in stateDir (atomically: readers never see
// half a file).
func WriteStatusFile(stateDir string, st StatusFile) error {
	if st.PID == 0 {
		st.PID = os.Getpid()
	}
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = time.Now().UTC()
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileDurably(filepath.Join(stateDir, StatusFileName), append(b, '\n')); err != nil {
		return fmt.Errorf("write status file: %w", err)
	}
	return nil
}

// ReadStatusFile reads the status file in stateDir. It is tolerant: unknown fields (from
// another agent version) are ignored and missing ones stay zero. A missing file is an
// error wrapping fs.ErrNotExist.
func ReadStatusFile(stateDir string) (StatusFile, error) {
	var st StatusFile
	path := filepath.Join(stateDir, StatusFileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// Stale reports whether the status is older than a running agent would leave it.
func (st StatusFile) Stale(now time.Time) bool {
	return now.Sub(st.UpdatedAt) > 4*StatusInterval
}

// Live reports whether the status is recent and its agent process still runs: an agent
// killed or stopped leaves a file that is fresh for a few seconds more.
func (st StatusFile) Live(now time.Time) bool {
	return !st.Stale(now) && processAlive(st.PID)
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid) // on Windows, fails for a process that is gone
	if err != nil {
		return false
	}
	if runtime.GOOS == "windows" {
		return true
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM) // EPERM: alive, another user's
}

// Describe writes the status for plant IT, times relative to now.
func (st StatusFile) Describe(w io.Writer, now time.Time) {
	ago := func(t time.Time) string { return now.Sub(t).Round(time.Second).String() + " ago" }
	fmt.Fprintf(w, "agent %s", or(st.AgentID, "(unknown)"))
	if st.ConnectionID != "" {
		fmt.Fprintf(w, ", connection %s", st.ConnectionID)
	}
	fmt.Fprintf(w, ", version %s", or(st.Version, "?"))
	if st.PID != 0 {
		fmt.Fprintf(w, ", pid %d", st.PID)
	}
	if !st.StartedAt.IsZero() {
		fmt.Fprintf(w, ", started %s", ago(st.StartedAt))
	}
	fmt.Fprintln(w)
	if t := st.Tunnel; t.Connected {
		fmt.Fprintf(w, "tunnel:   connected since %s (%s), round trip %.1f ms\n", t.ConnectedSince.Format(time.RFC3339), ago(t.ConnectedSince), t.RTTMillis)
	} else {
		fmt.Fprintf(w, "tunnel:   not connected")
		if t.LastError != "" {
			fmt.Fprintf(w, ": %s", t.LastError)
		}
		if t.FailedAttempts > 0 {
			fmt.Fprintf(w, " (%d failed attempts)", t.FailedAttempts)
		}
		fmt.Fprintln(w)
	}
	db := st.Database
	fmt.Fprintf(w, "database: %s", or(db.State, "unknown"))
	if db.Table != "" {
		fmt.Fprintf(w, " (table %s)", db.Table)
	}
	if db.Error != nil {
		fmt.Fprintf(w, ": %s", db.Error.Message)
	}
	if db.Circuit == "open" {
		fmt.Fprint(w, "; resting the database after repeated failures")
	}
	if db.CheckedAt != nil {
		fmt.Fprintf(w, ", checked %s", ago(*db.CheckedAt))
	}
	fmt.Fprintln(w)
	b := st.Buffer
	fmt.Fprintf(w, "buffer:   %d batches, %s", b.Batches, bytesText(b.Bytes))
	if b.MaxBytes > 0 {
		fmt.Fprintf(w, " of %s", bytesText(b.MaxBytes))
	}
	if b.Full {
		fmt.Fprint(w, " (full: reading paused until the relay takes batches again)")
	}
	fmt.Fprintln(w)
	if len(st.Models) > 0 {
		fmt.Fprintln(w, "models:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, m := range st.Models {
			next := ""
			if m.NextSyncStart != nil {
				if d := m.NextSyncStart.Sub(now); d > 0 {
					next = "next in " + d.Round(time.Second).String()
				} else {
					next = "next due"
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d rows\t%d batches\t%.0f rows/s\t%s\n", m.Model, m.Status, m.RowsRead,
				m.BatchesBuffered, m.RowsPerSecond, next)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "reported %s\n", ago(st.UpdatedAt))
}

func or(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

// bytesText writes a size in the unit that reads best.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

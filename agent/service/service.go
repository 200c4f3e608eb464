// Package service installs and runs the agent as a system service: a Windows service, a
// systemd unit, or a SysV init script where there is no systemd, through
// github.com/kardianos/service.
//
// The installed service runs `plantbridge-agent run --config <absolute path>`, so it does
// not depend on the working directory it is started in. Run serves the service manager
// (or a terminal): it starts the agent, and on the manager's Stop (or Ctrl-C, or SIGTERM)
// cancels it and waits a bounded time for it to finish.
package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	kservice "github.com/kardianos/service"
)

// DefaultName is the service's name unless --name says otherwise.
const DefaultName = "plantbridge-agent"

// DefaultStopTimeout bounds how long Stop waits for the agent: within the SysV script's
// 10 seconds and well within the 20 seconds Windows allows a service to stop.
const DefaultStopTimeout = 8 * time.Second

// Options names the service and the agent it runs.
type Options struct {
	// Name of the service. Default DefaultName.
	Name string
	// ConfigPath is the agent.yaml the service runs with; made absolute.
	ConfigPath string
	// Executable is the agent program. Default: this program.
	Executable string
}

func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	for _, r := range o.Name {
		// The name becomes a file name, a unit name and a word in a shell script.
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return o, fmt.Errorf("service name %q: use letters, digits, - _ and . only", o.Name)
		}
	}
	if o.ConfigPath != "" {
		abs, err := filepath.Abs(o.ConfigPath)
		if err != nil {
			return o, err
		}
		o.ConfigPath = abs
	}
	return o, nil
}

// config is the service definition that Install registers.
func (o Options) config() *kservice.Config {
	c := &kservice.Config{
		Name:        o.Name,
		DisplayName: "Plantbridge Agent",
		Description: "Keeps the plant's maintenance database in sync with Plantbridge over an outbound connection.",
		Arguments:   []string{"run", "--config", o.ConfigPath, "--name", o.Name},
		Executable:  o.Executable,
		Option: kservice.KeyValue{
			// Windows: after a crash, restart 10 s later (the default 1 s would hammer a
			// relay or database that is down); at boot, start once the network is up.
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "10s",
			"OnFailureResetPeriod":   86400,
			"DelayedAutoStart":       true,
			// SysV (no systemd): kardianos/service's script mangles arguments with spaces.
			"SysvScript": sysvScriptFor(o.Name),
		},
	}
	if o.ConfigPath != "" {
		c.WorkingDirectory = filepath.Dir(o.ConfigPath)
	}
	if runtime.GOOS == "linux" {
		// systemd: the relay is reached over the network. (On Windows, Dependencies
		// names other services.)
		c.Dependencies = []string{"After=network-online.target", "Wants=network-online.target"}
	}
	return c
}

func (o Options) service(p kservice.Interface) (kservice.Service, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if p == nil {
		p = &Program{}
	}
	return kservice.New(p, o.config())
}

// Platform names the service manager in use: windows-service, linux-systemd,
// unix-systemv, ….
func Platform() string { return kservice.Platform() }

// Interactive reports whether this process runs in a terminal rather than under a
// service manager.
func Interactive() bool { return kservice.Interactive() }

// WindowsService reports whether this process runs as a Windows service, where stderr
// goes nowhere and the working directory is System32.
func WindowsService() bool { return runtime.GOOS == "windows" && !kservice.Interactive() }

const sysv = "unix-systemv"

// Install registers the service to start at boot. It does not start it.
func Install(o Options) error {
	if o.ConfigPath == "" {
		return errors.New("install: the service needs a config file")
	}
	s, err := o.service(nil)
	if err != nil {
		return err
	}
	if st, _ := Status(o); st != NotInstalled && st != Unknown {
		return fmt.Errorf("install: service %s is already installed (%s); uninstall it first", nameOf(o), st)
	}
	if err := s.Install(); err != nil {
		return fmt.Errorf("install service %s (%s): %w", nameOf(o), s.Platform(), err)
	}
	return nil
}

// Uninstall stops the service if it runs and removes it.
func Uninstall(o Options) error {
	s, err := o.service(nil)
	if err != nil {
		return err
	}
	st, err := Status(o)
	if err == nil && st == NotInstalled {
		return fmt.Errorf("uninstall: service %s is not installed", nameOf(o))
	}
	if st == Running {
		if err := s.Stop(); err != nil {
			return fmt.Errorf("stop service %s: %w", nameOf(o), err)
		}
	}
	if err := s.Uninstall(); err != nil {
		return fmt.Errorf("uninstall service %s: %w", nameOf(o), err)
	}
	if s.Platform() == sysv {
		removeSysvLinks(nameOf(o))
	}
	return nil
}

// Start starts the installed service.
func Start(o Options) error {
	s, err := o.service(nil)
	if err != nil {
		return err
	}
	if st, err := Status(o); err == nil && st == NotInstalled {
		return fmt.Errorf("start: service %s is not installed (plantbridge-agent install --config FILE)", nameOf(o))
	}
	if err := s.Start(); err != nil {
		return fmt.Errorf("start service %s: %w", nameOf(o), err)
	}
	return nil
}

// Stop stops the running service.
func Stop(o Options) error {
	s, err := o.service(nil)
	if err != nil {
		return err
	}
	if err := s.Stop(); err != nil {
		return fmt.Errorf("stop service %s: %w", nameOf(o), err)
	}
	return nil
}

// State is the service's state as the service manager reports it.
type State string

// States.
const (
	Running      State = "running"
	Stopped      State = "stopped"
	NotInstalled State = "not installed"
	Unknown      State = "unknown"
)

// Status asks the service manager for the service's state.
func Status(o Options) (State, error) {
	s, err := o.service(nil)
	if err != nil {
		return Unknown, err
	}
	if s.Platform() == sysv {
		return sysvStatus(nameOf(o))
	}
	st, err := s.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		return NotInstalled, nil
	case err != nil:
		return Unknown, err
	case st == kservice.StatusRunning:
		return Running, nil
	case st == kservice.StatusStopped:
		return Stopped, nil
	}
	return Unknown, nil
}

func nameOf(o Options) string {
	if o.Name == "" {
		return DefaultName
	}
	return o.Name
}

// sysvStatus runs the init script's status action. kardianos/service reads its exit
// status, which is 1 for a stopped service, as an error, so a stopped service would
// look broken.
func sysvStatus(name string) (State, error) {
	script := "/etc/init.d/" + name
	if _, err := os.Stat(script); errors.Is(err, fs.ErrNotExist) {
		return NotInstalled, nil
	}
	out, err := exec.Command(script, "status").Output()
	switch text := strings.TrimSpace(string(out)); {
	case strings.HasPrefix(text, "Running"):
		return Running, nil
	case strings.HasPrefix(text, "Stopped"):
		return Stopped, nil
	case err != nil:
		return Unknown, fmt.Errorf("%s status: %w", script, err)
	default:
		return Unknown, fmt.Errorf("%s status: %q", script, text)
	}
}

// removeSysvLinks removes the runlevel links that kardianos/service's SysV Install makes
// and its Uninstall leaves dangling.
func removeSysvLinks(name string) {
	for _, l := range []string{"0", "1", "6"} {
		os.Remove("/etc/rc" + l + ".d/K02" + name)
	}
	for _, l := range []string{"2", "3", "4", "5"} {
		os.Remove("/etc/rc" + l + ".d/S50" + name)
	}
}

// Run runs the agent until the service manager that started this process stops it, or,
// in a terminal, until Ctrl-C or SIGTERM. run is the agent; it must return soon after its
// context is canceled. As a service, the process first moves to the config file's
// directory, since Windows starts services in System32.
func Run(o Options, run func(ctx context.Context) error, log *slog.Logger) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	if !Interactive() && o.ConfigPath != "" {
		if err := os.Chdir(filepath.Dir(o.ConfigPath)); err != nil {
			return fmt.Errorf("change to the config's directory: %w", err)
		}
	}
	p := NewProgram(run, log)
	s, err := kservice.New(p, o.config())
	if err != nil {
		return err
	}
	if err := s.Run(); err != nil {
		return err
	}
	return p.Err()
}

// Program is the agent as a kardianos/service program: Start runs the agent in the
// background and returns at once, as service managers require; Stop cancels it and waits
// at most StopTimeout. If the agent ends by itself the process exits with status 1, so
// that the service manager (Windows recovery actions, systemd's Restart=) starts it again.
type Program struct {
	run         func(ctx context.Context) error
	log         *slog.Logger
	stopTimeout time.Duration
	exit        func(code int)

	mu       sync.Mutex // guards the fields below
	cancel   context.CancelFunc
	done     chan struct{} // closed when run has returned
	err      error         // what run returned
	stopping bool          // Stop was called
}

// NewProgram returns a Program that runs run.
func NewProgram(run func(ctx context.Context) error, log *slog.Logger) *Program {
	return &Program{run: run, log: log, stopTimeout: DefaultStopTimeout, exit: os.Exit}
}

// Start runs the agent in the background.
func (p *Program) Start(kservice.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		return errors.New("agent already started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go p.serve(ctx, p.done)
	return nil
}

func (p *Program) serve(ctx context.Context, done chan struct{}) {
	err := p.run(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	p.mu.Lock()
	p.err = err
	stopping := p.stopping
	p.mu.Unlock()
	close(done)
	if !stopping {
		p.log.Error("agent stopped by itself; exiting so that the service manager starts it again", "err", err)
		p.exit(1)
	}
}

// Stop cancels the agent and waits for it, at most StopTimeout.
func (p *Program) Stop(kservice.Service) error {
	p.mu.Lock()
	if p.done == nil {
		p.mu.Unlock()
		return nil
	}
	p.stopping = true
	p.cancel()
	done := p.done
	p.mu.Unlock()
	p.log.Info("stopping the agent")
	t := time.NewTimer(p.stopTimeout)
	defer t.Stop()
	select {
	case <-done:
		return p.Err()
	case <-t.C:
		return fmt.Errorf("agent did not stop within %v", p.stopTimeout)
	}
}

// Err returns what the agent returned, once it has.
func (p *Program) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// StartupFailed records why the agent could not start where a Windows administrator will
// look: the Application event log. Elsewhere stderr reaches the service manager's log
// (the journal, or /var/log/<name>.err under SysV), so it does nothing.
func StartupFailed(o Options, err error) {
	if !WindowsService() {
		return
	}
	s, serr := o.service(nil)
	if serr != nil {
		return
	}
	if l, lerr := s.SystemLogger(nil); lerr == nil {
		l.Error("plantbridge-agent cannot start: " + err.Error())
	}
}

// Command plantbridge-agent is the plant side of Plantbridge.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/plantbridge/plantbridge/agent"
	"github.com/plantbridge/plantbridge/agent/diagnose"
	"github.com/plantbridge/plantbridge/agent/service"
	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/internal/version"
)

const usage = `usage: plantbridge-agent <command> [flags]

commands:
  enroll --relay URL --token TOKEN [--config FILE] [--state-dir DIR] [--proxy URL] [--ca-file FILE]
                                 exchange a one-time enrollment token for the agent's credential;
                                 writes a minimal agent.yaml when FILE does not exist
  run [--config FILE]            run the agent in the foreground (or under the service manager)
  install [--config FILE]        install the agent as a service (Windows service, systemd or SysV)
  uninstall                      stop and remove the service
  start, stop                    start or stop the service
  status [--config FILE]         show the service's state and the agent's progress
  diagnose [--config FILE]       check config, network path to the relay, and plant database;
                                 exits 1 if any check fails
  check-config [--config FILE]   check agent.yaml and list every problem
  demo-db --system maximo|infor_eam|mp2|sap_pm --driver sqlite|postgres --rows N
          (--out FILE | --dsn DSN) [--mutate RATE] [--seed N]
                                 create a demo plant database (and keep changing it)
  version                        print the version

FILE defaults to agent.yaml in the current directory. The service commands take
--name NAME (default plantbridge-agent) to run more than one agent on a machine.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "run":
		err = run(args)
	case "enroll":
		err = enroll(args)
	case "install", "uninstall", "start", "stop":
		err = control(cmd, args)
	case "status":
		err = status(args)
	case "diagnose":
		err = diagnoseCmd(args)
	case "check-config":
		err = checkConfig(args)
	case "demo-db":
		err = demoDB(args)
	case "version":
		fmt.Println("plantbridge-agent", version.Version)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "plantbridge-agent:", err)
		os.Exit(1)
	}
}

// flags are the flags most commands share.
type flags struct {
	*flag.FlagSet
	config string
	name   string
}

// newFlags returns the flag set of cmd, with --config when it reads agent.yaml and --name
// when it concerns the service.
func newFlags(cmd string, withConfig, withName bool) *flags {
	f := &flags{FlagSet: flag.NewFlagSet(cmd, flag.ExitOnError), name: service.DefaultName}
	if withConfig {
		f.StringVar(&f.config, "config", "agent.yaml", "agent.yaml `file`")
	}
	if withName {
		f.StringVar(&f.name, "name", service.DefaultName, "service `name`")
	}
	return f
}

// parse parses args and makes the config path absolute: a service does not start in the
// directory the command was given in.
func (f *flags) parse(args []string) error {
	f.Parse(args)
	if f.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", f.Name(), f.Arg(0))
	}
	if f.config != "" {
		abs, err := filepath.Abs(f.config)
		if err != nil {
			return err
		}
		f.config = abs
	}
	return nil
}

func (f *flags) service() service.Options {
	return service.Options{Name: f.name, ConfigPath: f.config}
}

func run(args []string) error {
	f := newFlags("run", true, true)
	if err := f.parse(args); err != nil {
		return err
	}
	err := runAgent(f.service())
	if err != nil {
		service.StartupFailed(f.service(), err)
	}
	return err
}

func runAgent(o service.Options) error {
	cfg, err := agent.LoadConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	if err := agent.EnsureStateDir(cfg.StateDir); err != nil {
		return err
	}
	var out io.Writer = os.Stderr
	if service.WindowsService() {
		// stderr goes nowhere under the Windows service manager.
		lf, err := service.OpenLogFile(filepath.Join(cfg.StateDir, "agent.log"), 10<<20)
		if err != nil {
			return err
		}
		defer lf.Close()
		out = lf
	}
	agent.TuneRuntime()
	log := slog.New(agent.NewScrubber(cfg.Secrets()...).Handler(slog.NewJSONHandler(out, nil)))
	a, err := agent.New(cfg, log)
	if err != nil {
		return err
	}
	return service.Run(o, a.Run, log)
}

func control(cmd string, args []string) error {
	f := newFlags(cmd, cmd == "install", true)
	if err := f.parse(args); err != nil {
		return err
	}
	o := f.service()
	switch cmd {
	case "install":
		if _, err := agent.LoadConfig(o.ConfigPath); err != nil {
			return fmt.Errorf("%w\nthe service would not start with this config; fix it first", err)
		}
		if err := service.Install(o); err != nil {
			return err
		}
		fmt.Printf("Installed service %s (%s): it runs plantbridge-agent run --config %s at boot.\nStart it now: plantbridge-agent start%s\n",
			f.name, service.Platform(), o.ConfigPath, nameFlag(f.name))
	case "uninstall":
		if err := service.Uninstall(o); err != nil {
			return err
		}
		fmt.Printf("Removed service %s.\n", f.name)
	case "start":
		if err := service.Start(o); err != nil {
			return err
		}
		fmt.Printf("Started service %s. See how it does: plantbridge-agent status --config FILE%s\n", f.name, nameFlag(f.name))
	case "stop":
		if err := service.Stop(o); err != nil {
			return err
		}
		fmt.Printf("Stopped service %s.\n", f.name)
	}
	return nil
}

func nameFlag(name string) string {
	if name == service.DefaultName {
		return ""
	}
	return " --name " + name
}

// status prints the service's state and the agent's own report of its progress. It exits
// with 3 when the service does not run, as LSB init scripts do.
func status(args []string) error {
	f := newFlags("status", true, true)
	if err := f.parse(args); err != nil {
		return err
	}
	st, err := service.Status(f.service())
	if err != nil {
		fmt.Printf("service %s: %s (%s): %v\n", f.name, st, service.Platform(), err)
	} else {
		fmt.Printf("service %s: %s (%s)\n", f.name, st, service.Platform())
	}
	cfg, cfgErr := agent.LoadConfigForEnroll(f.config)
	if cfgErr != nil && errors.Is(cfgErr, fs.ErrNotExist) {
		fmt.Printf("progress: unknown; give the agent's config with --config FILE (%s does not exist)\n", f.config)
	} else {
		now := time.Now()
		sf, err := agent.ReadStatusFile(cfg.StateDir)
		switch {
		case errors.Is(err, fs.ErrNotExist) && st == service.Running:
			fmt.Printf("progress: the agent has not reported yet (no %s in %s)\n", agent.StatusFileName, cfg.StateDir)
		case errors.Is(err, fs.ErrNotExist):
			fmt.Printf("progress: the agent is not running (no %s in %s)\n", agent.StatusFileName, cfg.StateDir)
		case err != nil:
			fmt.Printf("progress: unreadable: %v\n", err)
		default:
			switch {
			case !sf.Live(now) && !sf.Stale(now):
				fmt.Printf("The agent (pid %d) has stopped; its last report:\n", sf.PID)
			case sf.Stale(now):
				fmt.Printf("The agent's last report is %s old: it is not running, or it is stuck.\n",
					now.Sub(sf.UpdatedAt).Round(time.Second))
			}
			sf.Describe(os.Stdout, now)
		}
	}
	if st != service.Running {
		os.Exit(3)
	}
	return nil
}

func enroll(args []string) error {
	fl := flag.NewFlagSet("enroll", flag.ExitOnError)
	var o agent.EnrollOptions
	config := fl.String("config", "agent.yaml", "agent.yaml `file`; written with the relay URL if it does not exist")
	fl.StringVar(&o.RelayURL, "relay", "", "relay `URL`, such as wss://relay.example.com (default: relay.url of the config)")
	fl.StringVar(&o.Token, "token", "", "one-time enrollment `token`")
	fl.StringVar(&o.StateDir, "state-dir", "", "`directory` for the credential (default: state_dir of the config)")
	fl.StringVar(&o.Proxy, "proxy", "", "HTTP proxy `URL` (default: relay.proxy of the config, or HTTPS_PROXY)")
	fl.StringVar(&o.CAFile, "ca-file", "", "PEM `file` of extra CAs (default: relay.ca_file of the config)")
	fl.Parse(args)
	if o.Token == "" {
		return errors.New("enroll: --token is required (the relay shows it when the connection is created)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return agent.EnrollCommand(ctx, *config, o, os.Stdout)
}

func diagnoseCmd(args []string) error {
	f := newFlags("diagnose", true, false)
	timeout := f.Duration("timeout", 10*time.Second, "time allowed for each network step")
	if err := f.parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := diagnose.Run(ctx, diagnose.Options{ConfigPath: f.config, Timeout: *timeout})
	rep.Write(os.Stdout)
	if rep.Failed() {
		os.Exit(1)
	}
	return nil
}

func checkConfig(args []string) error {
	f := newFlags("check-config", true, false)
	if err := f.parse(args); err != nil {
		return err
	}
	if _, err := agent.LoadConfig(f.config); err != nil {
		return err
	}
	fmt.Println(f.config + ": OK")
	return nil
}

func demoDB(args []string) error {
	fs := flag.NewFlagSet("demo-db", flag.ExitOnError)
	var o demodb.Options
	fs.StringVar(&o.System, "system", "maximo", "maintenance `system`: maximo, infor_eam, mp2 or sap_pm")
	fs.StringVar(&o.Driver, "driver", "sqlite", "database `driver`: sqlite or postgres")
	fs.IntVar(&o.Rows, "rows", 1000, "number of work orders (other tables scale with it)")
	fs.StringVar(&o.Out, "out", "", "SQLite `file` to create (driver sqlite)")
	fs.StringVar(&o.DSN, "dsn", "", "PostgreSQL `dsn` (driver postgres)")
	fs.Float64Var(&o.Mutate, "mutate", 0, "after creating, keep changing rows at this `rate` per second until interrupted")
	fs.Int64Var(&o.Seed, "seed", 1, "random `seed`; the same seed gives the same data")
	fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	return demodb.Run(ctx, o, log)
}

// Command plantbridge-agent is the plant side of Plantbridge.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/plantbridge/plantbridge/agent"
	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/internal/version"
)

const usage = `usage: plantbridge-agent <command> [flags]

commands:
  run [--config FILE]            run the agent in the foreground
  check-config [--config FILE]   check agent.yaml and list every problem
  demo-db --system maximo|infor_eam|mp2|sap_pm --driver sqlite|postgres --rows N
          (--out FILE | --dsn DSN) [--mutate RATE] [--seed N]
                                 create a demo plant database (and keep changing it)
  version                        print the version
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

func configFlag(name string, args []string) string {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	file := fs.String("config", "agent.yaml", "agent.yaml `file`")
	fs.Parse(args)
	return *file
}

func run(args []string) error {
	cfg, err := agent.LoadConfig(configFlag("run", args))
	if err != nil {
		return err
	}
	agent.TuneRuntime()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	a, err := agent.New(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return a.Run(ctx)
}

func checkConfig(args []string) error {
	file := configFlag("check-config", args)
	if _, err := agent.LoadConfig(file); err != nil {
		return err
	}
	fmt.Println(file + ": OK")
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

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
	"github.com/plantbridge/plantbridge/internal/version"
)

const usage = `usage: plantbridge-agent <command> [flags]

commands:
  run [--config FILE]            run the agent in the foreground
  check-config [--config FILE]   check agent.yaml and list every problem
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

// Command plantbridge-relay is the cloud side of Plantbridge.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/plantbridge/plantbridge/internal/version"
	"github.com/plantbridge/plantbridge/relay"
)

const usage = `usage: plantbridge-relay <command> [flags]

commands:
  serve [--config FILE] [--data-dir DIR] [--listen ADDR]   run the relay
  agents add ID [--data-dir DIR]                           register an agent; prints its credential
  check-config [--config FILE]                             check relay.yaml
  version                                                  print the version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(args)
	case "agents":
		err = agents(args)
	case "check-config":
		_, err = loadConfig("check-config", args)
		if err == nil {
			fmt.Println("config OK")
		}
	case "version":
		fmt.Println("plantbridge-relay", version.Version)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "plantbridge-relay:", err)
		os.Exit(1)
	}
}

// loadConfig parses the common flags and the config file they name; flags win.
func loadConfig(name string, args []string, extra ...func(*flag.FlagSet)) (relay.Config, error) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	configFile := fs.String("config", "", "relay.yaml `file` (default: built-in defaults)")
	dataDir := fs.String("data-dir", "", "data `dir` (overrides data_dir; default ./plantbridge-data)")
	listen := fs.String("listen", "", "listen `addr` (overrides listen; default 127.0.0.1:8080)")
	for _, e := range extra {
		e(fs)
	}
	fs.Parse(args)
	cfg, err := relay.LoadConfig(*configFile)
	if err != nil {
		return cfg, err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	return cfg, nil
}

func serve(args []string) error {
	cfg, err := loadConfig("serve", args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	srv, err := relay.New(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Run(ctx)
}

func agents(args []string) error {
	if len(args) < 2 || args[0] != "add" {
		return fmt.Errorf("usage: plantbridge-relay agents add ID [--data-dir DIR]")
	}
	id := args[1]
	cfg, err := loadConfig("agents add", args[2:])
	if err != nil {
		return err
	}
	reg, err := relay.OpenAgentRegistry(cfg.DataDir)
	if err != nil {
		return err
	}
	secret, err := reg.Add(id)
	if err != nil {
		return err
	}
	fmt.Println(secret)
	return nil
}

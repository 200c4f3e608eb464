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
	"text/tabwriter"
	"time"

	"github.com/plantbridge/plantbridge/internal/version"
	"github.com/plantbridge/plantbridge/relay"
	"github.com/plantbridge/plantbridge/relay/store"
	"github.com/plantbridge/plantbridge/relay/webhooks"
)

const usage = `usage: plantbridge-relay <command> [flags]

commands:
  serve [--config FILE] [--data-dir DIR] [--listen ADDR]   run the relay
  accounts create NAME                                     create an account; prints its first API key
  keys create --account ID [--name NAME]                   create another API key; prints it
  keys list --account ID                                   list an account's API keys
  keys revoke --account ID KEY_ID                          revoke an API key
  connections list --account ID                            list an account's connections
  migrate                                                  apply the store's schema migrations and exit
  check-config [--config FILE]                             check relay.yaml and list every problem
  version                                                  print the version

Every command takes --config FILE and --data-dir DIR to find the store.
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
	case "accounts":
		err = accounts(args)
	case "keys":
		err = keys(args)
	case "connections":
		err = connections(args)
	case "migrate":
		err = withStore("migrate", args, nil, func(ctx context.Context, st store.Store, _ *flag.FlagSet) error {
			fmt.Println("store schema is up to date")
			return nil
		})
	case "check-config":
		_, _, err = loadConfig("check-config", args)
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
func loadConfig(name string, args []string, extra ...func(*flag.FlagSet)) (relay.Config, *flag.FlagSet, error) {
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
		return cfg, fs, err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	return cfg, fs, nil
}

func serve(args []string) error {
	cfg, _, err := loadConfig("serve", args)
	if err != nil {
		return err
	}
	relay.TuneRuntime()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := relay.OpenStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	var opts relay.Options
	relay.Webhooks(cfg, st, log, &opts, webhooks.Options{})
	srv, err := relay.NewWithStore(cfg, st, log, opts)
	if err != nil {
		st.Close()
		return err
	}
	return srv.Run(ctx)
}

// withStore opens the store of the config named in args and runs fn.
func withStore(name string, args []string, extra func(*flag.FlagSet), fn func(context.Context, store.Store, *flag.FlagSet) error) error {
	var exts []func(*flag.FlagSet)
	if extra != nil {
		exts = append(exts, extra)
	}
	cfg, fs, err := loadConfig(name, args, exts...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := relay.OpenStore(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(ctx, st, fs)
}

func accounts(args []string) error {
	if len(args) < 2 || args[0] != "create" {
		return fmt.Errorf("usage: plantbridge-relay accounts create NAME [--data-dir DIR]")
	}
	name := args[1]
	return withStore("accounts create", args[2:], nil, func(ctx context.Context, st store.Store, _ *flag.FlagSet) error {
		acct, err := st.CreateAccount(ctx, name)
		if err != nil {
			return err
		}
		_, plain, err := st.CreateAPIKey(ctx, acct.ID, "default")
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "created account %s (%s); its API key follows, shown only this once\n", acct.ID, acct.Name)
		fmt.Println(plain)
		return nil
	})
}

func keys(args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("usage: plantbridge-relay keys create|list|revoke --account ID")
	}
	var account, keyName *string
	flags := func(fs *flag.FlagSet) {
		account = fs.String("account", "", "account `id` (acct_…)")
		keyName = fs.String("name", "api", "key `name`, to tell keys apart")
	}
	sub := args[0]
	return withStore("keys "+sub, args[1:], flags, func(ctx context.Context, st store.Store, fs *flag.FlagSet) error {
		if *account == "" {
			return fmt.Errorf("--account is required")
		}
		switch sub {
		case "create":
			_, plain, err := st.CreateAPIKey(ctx, *account, *keyName)
			if err != nil {
				return err
			}
			fmt.Println(plain)
		case "list":
			list, err := st.ListAPIKeys(ctx, *account)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tCREATED\tREVOKED")
			for _, k := range list {
				revoked := "-"
				if k.RevokedAt != nil {
					revoked = k.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, k.CreatedAt.Format(time.RFC3339), revoked)
			}
			tw.Flush()
		case "revoke":
			if fs.NArg() != 1 {
				return fmt.Errorf("usage: plantbridge-relay keys revoke --account ID KEY_ID")
			}
			if err := st.RevokeAPIKey(ctx, *account, fs.Arg(0)); err != nil {
				return err
			}
			fmt.Println("revoked", fs.Arg(0))
		default:
			return fmt.Errorf("unknown keys command %q: create, list or revoke", sub)
		}
		return nil
	})
}

func connections(args []string) error {
	if len(args) < 1 || args[0] != "list" {
		return fmt.Errorf("usage: plantbridge-relay connections list --account ID")
	}
	var account *string
	flags := func(fs *flag.FlagSet) { account = fs.String("account", "", "account `id` (acct_…)") }
	return withStore("connections list", args[1:], flags, func(ctx context.Context, st store.Store, _ *flag.FlagSet) error {
		if *account == "" {
			return fmt.Errorf("--account is required")
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSYSTEM\tAGENT\tENROLLED\tCREATED")
		page := store.Page{Limit: store.MaxPageSize}
		for {
			list, next, err := st.ListConnections(ctx, *account, page)
			if err != nil {
				return err
			}
			for _, c := range list {
				enrolled := "no"
				if c.AgentEnrolledAt != nil {
					enrolled = c.AgentEnrolledAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.System, c.AgentID, enrolled, c.CreatedAt.Format(time.RFC3339))
			}
			if next == "" {
				break
			}
			page.After = next
		}
		return tw.Flush()
	})
}

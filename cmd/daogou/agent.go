package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/daogou/daogou/chat"
)

// agentAdd is `daogou agent add`: create an account in the configured store.
func agentAdd(args []string) error {
	var c config
	fs := flag.NewFlagSet("daogou agent add", flag.ContinueOnError)
	defineFlags(fs, &c)
	email := fs.String("email", "", "the account's e-mail (required)")
	name := fs.String("name", "", "display name (required)")
	password := fs.String("password", "", "password, at least 8 characters (required; or DAOGOU_AGENT_PASSWORD)")
	role := fs.String("role", chat.AccountAgent, "agent or supervisor")
	skills := fs.String("skills", "zh-CN,en", "comma-separated skills: locales and topics")
	capacity := fs.Int("capacity", 0, "conversations at once (0: --default-capacity)")
	if err := parse(fs, &c, args, os.Getenv); err != nil {
		return err
	}
	if *password == "" {
		*password = os.Getenv("DAOGOU_AGENT_PASSWORD")
	}
	if *email == "" || *name == "" || len(*password) < 8 {
		return fmt.Errorf("agent add needs --email, --name and a --password of at least 8 characters")
	}
	if *role != chat.AccountAgent && *role != chat.AccountSupervisor {
		return fmt.Errorf("--role is agent or supervisor")
	}
	log, err := newLogger(c.LogLevel, c.LogFormat)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := openStore(ctx, c, log)
	if err != nil {
		return err
	}
	defer st.Close()
	hub := chat.NewHub(c.hubConfig(), chat.Deps{Store: st, Broker: chat.NewMemoryBroker(), Log: log})
	var list []string
	for _, s := range strings.Split(*skills, ",") {
		if s = strings.TrimSpace(s); s != "" {
			list = append(list, s)
		}
	}
	a, err := hub.CreateAccount(ctx, *email, *name, *password, *role, list, *capacity)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "created %s %s (%s) id %s\n", a.Role, a.Email, a.Name, a.ID)
	return nil
}

package main

import (
	"errors"
	"flag"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	sup := []string{"--supervisor-password", "pw-123456"}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr error
		check   func(t *testing.T, c config)
	}{
		{name: "no mode", args: nil, wantErr: ErrUsage},
		{name: "flag before mode", args: []string{"--rate", "5"}, wantErr: ErrUsage},
		{name: "help", args: []string{"-h"}, wantErr: flag.ErrHelp},
		{name: "unknown mode", args: []string{"storm"}, wantErr: ErrUsage},
		{name: "stray argument", args: []string{"idle", "extra"}, wantErr: ErrUsage},
		{name: "unknown flag", args: []string{"idle", "--nope"}, wantErr: ErrUsage},
		{name: "idle defaults", args: []string{"idle"}, check: func(t *testing.T, c config) {
			if c.Sessions != 1000 || c.Duration != 30*time.Second || c.ConnectRate != 5000 || !c.Progress {
				t.Errorf("defaults: %+v", c)
			}
			if len(c.URLs) != 1 || c.URLs[0].String() != "http://127.0.0.1:8080" {
				t.Errorf("default URL %v", c.URLs)
			}
		}},
		{name: "idle needs no supervisor", args: []string{"idle", "--sessions", "19000", "--duration", "1m"}, check: func(t *testing.T, c config) {
			if c.Sessions != 19000 || c.Duration != time.Minute {
				t.Errorf("got %d sessions for %v", c.Sessions, c.Duration)
			}
		}},
		{name: "idle with agents needs the supervisor", args: []string{"idle", "--agents", "2"}, wantErr: ErrUsage},
		{name: "idle with agents", args: append([]string{"idle", "--sessions", "19000", "--agents", "2"}, sup...), check: func(t *testing.T, c config) {
			if c.Agents != 2 || c.AgentCapacity != maxCapacity || c.Conversations != 19000 {
				t.Errorf("agents %d capacity %d conversations %d", c.Agents, c.AgentCapacity, c.Conversations)
			}
		}},
		{name: "idle with too few agents", args: append([]string{"idle", "--sessions", "19000", "--agents", "1"}, sup...), wantErr: ErrUsage},
		{name: "idle zero sessions", args: []string{"idle", "--sessions", "0"}, wantErr: ErrUsage},
		{name: "urls repeated and comma-separated", args: []string{"idle", "--url", "http://a:1,ws://b:2", "--url", "c:3"}, check: func(t *testing.T, c config) {
			var got []string
			for _, u := range c.URLs {
				got = append(got, u.String())
			}
			if strings.Join(got, " ") != "http://a:1 http://b:2 http://c:3" {
				t.Errorf("urls %v", got)
			}
		}},
		{name: "url with a path", args: []string{"idle", "--url", "http://a:1/ws/shopper"}, wantErr: ErrBadURL},
		{name: "url with a bad scheme", args: []string{"idle", "--url", "ftp://a:1"}, wantErr: ErrBadURL},
		{name: "source range", args: []string{"idle", "--source-ips", "127.0.0.1-127.0.0.20"}, check: func(t *testing.T, c config) {
			if len(c.SourceIPs) != 20 || c.SourceIPs[19].String() != "127.0.0.20" {
				t.Errorf("got %v", c.SourceIPs)
			}
		}},
		{name: "bad source range", args: []string{"idle", "--source-ips", "127.0.0.9-127.0.0.1"}, wantErr: ErrBadIPRange},
		{name: "server pids", args: []string{"idle", "--server-pid", "12,34"}, check: func(t *testing.T, c config) {
			if len(c.ServerPIDs) != 2 || c.ServerPIDs[1] != 34 {
				t.Errorf("pids %v", c.ServerPIDs)
			}
		}},
		{name: "bad server pid", args: []string{"idle", "--server-pid", "x"}, wantErr: ErrUsage},
		{name: "admin urls", args: []string{"idle", "--admin-url", "http://127.0.0.1:6062/, http://127.0.0.1:6063"}, check: func(t *testing.T, c config) {
			if len(c.AdminURLs) != 2 || c.AdminURLs[0] != "http://127.0.0.1:6062" || c.AdminURLs[1] != "http://127.0.0.1:6063" {
				t.Errorf("admin urls %q", c.AdminURLs)
			}
		}},
		{name: "bad admin url", args: []string{"idle", "--admin-url", "127.0.0.1:6062"}, wantErr: ErrUsage},
		{name: "relay needs the supervisor password", args: []string{"relay"}, wantErr: ErrUsage},
		{name: "relay sizes its agents from the rate", args: append([]string{"relay", "--conversations", "5000", "--rate", "5000"}, sup...), check: func(t *testing.T, c config) {
			if c.Agents != 1000 || c.AgentCapacity != 7 || c.Duration != 10*time.Second {
				t.Errorf("agents %d capacity %d duration %v", c.Agents, c.AgentCapacity, c.Duration)
			}
		}},
		{name: "relay few conversations, one agent each", args: append([]string{"relay", "--conversations", "3", "--rate", "20"}, sup...), check: func(t *testing.T, c config) {
			if c.Agents != 3 || c.AgentCapacity != 2 {
				t.Errorf("agents %d capacity %d", c.Agents, c.AgentCapacity)
			}
		}},
		{name: "relay agents from --agent-rate", args: append([]string{"relay", "--conversations", "5000", "--rate", "5000", "--agent-rate", "8"}, sup...), check: func(t *testing.T, c config) {
			if c.Agents != 625 || c.AgentCapacity != 11 {
				t.Errorf("agents %d capacity %d", c.Agents, c.AgentCapacity)
			}
		}},
		{name: "relay agent rate over the limit", args: append([]string{"relay", "--agent-rate", "9"}, sup...), wantErr: ErrOverRateLimit},
		{name: "relay too fast per shopper", args: append([]string{"relay", "--conversations", "10", "--rate", "100"}, sup...), wantErr: ErrOverRateLimit},
		{name: "relay too few agents", args: append([]string{"relay", "--conversations", "1000", "--rate", "1000", "--agents", "10"}, sup...), wantErr: ErrOverRateLimit},
		{name: "relay warmup longer than the run", args: append([]string{"relay", "--duration", "2s", "--warmup", "3s"}, sup...), wantErr: ErrUsage},
		{name: "relay message too short", args: append([]string{"relay", "--msg-bytes", "10"}, sup...), wantErr: ErrUsage},
		{name: "rules sizes one agent per 20", args: append([]string{"rules", "--conversations", "5000"}, sup...), check: func(t *testing.T, c config) {
			if c.Agents != 250 || c.AgentCapacity != 26 || c.Duration != 40*time.Second {
				t.Errorf("agents %d capacity %d duration %v", c.Agents, c.AgentCapacity, c.Duration)
			}
		}},
		{name: "capacity too small", args: append([]string{"rules", "--conversations", "100", "--agents", "2", "--agent-capacity", "10"}, sup...), wantErr: ErrUsage},
		{name: "capacity over the server's limit", args: append([]string{"rules", "--agent-capacity", "10001"}, sup...), wantErr: ErrUsage},
		{name: "short agent password", args: append([]string{"rules", "--agent-password", "short"}, sup...), wantErr: ErrUsage},
		{name: "negative drain", args: []string{"idle", "--drain", "-1s"}, wantErr: ErrUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestParseIPs(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "127.0.0.1", want: []string{"127.0.0.1"}},
		{in: "::1", want: []string{"::1"}},
		{in: "127.0.0.1-127.0.0.3", want: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
		{in: "127.0.0.5-6", want: []string{"127.0.0.5", "127.0.0.6"}},
		{in: "127.0.0.255-127.0.1.0", want: []string{"127.0.0.255", "127.0.1.0"}},
		{in: "127.0.0.1-127.0.0.1", want: []string{"127.0.0.1"}},
		{in: "localhost", wantErr: true},
		{in: "127.0.0.3-127.0.0.1", wantErr: true},
		{in: "::1-::2", wantErr: true},
		{in: "10.0.0.0-11.0.0.0", wantErr: true},
		{in: "127.0.0.1-x", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseIPs(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadIPRange) {
					t.Fatalf("err %v, want ErrBadIPRange", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if !got[i].Equal(net.ParseIP(tc.want[i])) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

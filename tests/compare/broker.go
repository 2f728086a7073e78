package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// partitions is the partition count of every benchmark topic.
const partitions = 8

// brokerMain runs a one-broker kfake cluster on 127.0.0.1. It prints "addr HOST:PORT", then
// answers one line per command read from stdin:
//
//	create TOPIC   creates TOPIC with 8 partitions   → "ok" or "error: ..."
//	delete TOPIC   deletes TOPIC                     → "ok" or "error: ..."
//
// It exits when stdin closes (the orchestrator is done or gone) or on a signal. A topic per client
// run keeps one run's partition and producer state out of the next.
func brokerMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	store := fs.Bool("store", false, "keep produced records in memory (default: accept and discard them)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if !*store {
		// kfake keeps every record in memory (about 370 MB per million 100-byte records) and
		// spends CPU on its log; discarding still validates batches and idempotent sequences.
		opts = append(opts, kfake.BlackholeProduce())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("addr %s\n", c.ListenAddrs()[0])

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			if err := brokerCommand(c, line); err != nil {
				fmt.Printf("error: %v\n", err)
			} else {
				fmt.Println("ok")
			}
		}
	}
}

func brokerCommand(c *kfake.Cluster, line string) error {
	verb, topic, _ := strings.Cut(strings.TrimSpace(line), " ")
	if topic == "" {
		return fmt.Errorf("bad command %q", line)
	}
	switch verb {
	case "create":
		return c.CreateTopic(topic, partitions, nil)
	case "delete":
		return c.DeleteTopic(topic)
	}
	return fmt.Errorf("unknown command %q", verb)
}

// brokerProc is the orchestrator's handle on the broker process.
type brokerProc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
}

func startBroker(ctx context.Context, exe string, store bool, stderr io.Writer) (*brokerProc, error) {
	args := []string{"broker"}
	if store {
		args = append(args, "-store")
	}
	cmd := childCommand(ctx, exe, args...)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the broker: %w", err)
	}
	b := &brokerProc{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	line, err := b.readLine()
	if err == nil {
		var ok bool
		if b.addr, ok = strings.CutPrefix(line, "addr "); !ok {
			err = fmt.Errorf("unexpected first line %q", line)
		}
	}
	if err != nil {
		b.stop()
		return nil, fmt.Errorf("broker: %w", err)
	}
	return b, nil
}

func (b *brokerProc) readLine() (string, error) {
	if b.out.Scan() {
		return b.out.Text(), nil
	}
	if err := b.out.Err(); err != nil {
		return "", err
	}
	return "", errors.New("the broker exited")
}

// do sends one command and waits for its answer.
func (b *brokerProc) do(verb, topic string) error {
	if _, err := fmt.Fprintf(b.in, "%s %s\n", verb, topic); err != nil {
		return fmt.Errorf("broker %s %s: %w", verb, topic, err)
	}
	line, err := b.readLine()
	if err == nil && line != "ok" {
		err = errors.New(line)
	}
	if err != nil {
		return fmt.Errorf("broker %s %s: %w", verb, topic, err)
	}
	return nil
}

// stop closes the broker's stdin, which makes it exit, and kills it if it does not exit promptly.
func (b *brokerProc) stop() error {
	b.in.Close()
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		return <-done
	}
}

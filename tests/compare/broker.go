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
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// brokerMain runs a kfake cluster on 127.0.0.1. It prints "addr HOST:PORT,HOST:PORT,..." (every
// broker, so that each client bootstraps from all of them), then answers one line per command read
// from stdin:
//
//	create TOPIC N   creates TOPIC with N partitions                      → "ok" or "error: ..."
//	delete TOPIC     deletes TOPIC and returns its memory to the system   → "ok" or "error: ..."
//	peak-rss         this process's peak resident set size               → "ok KIB"
//
// It exits when stdin closes (the orchestrator is done or gone) or on a signal. A topic per client
// run keeps one run's partition and producer state out of the next, and deleting it frees the
// records a storing broker kept: kfake holds a topic's segments in an in-memory file system, and
// deleting the topic removes its files, so after a collection the next run starts from an empty
// heap.
func brokerMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	brokers := fs.Int("brokers", 3, "brokers in the cluster (one process, one listener each)")
	store := fs.Bool("store", false, "keep produced records in memory (default: accept and discard them)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *brokers < 1 {
		return errors.New("-brokers must be at least 1")
	}
	opts := []kfake.Opt{kfake.NumBrokers(*brokers)}
	if !*store {
		// Discarding still validates batches and idempotent sequences and advances offsets, but
		// keeps kfake's log (its CPU and memory) out of the measurement.
		opts = append(opts, kfake.BlackholeProduce())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("addr %s\n", strings.Join(c.ListenAddrs(), ","))

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
			if answer, err := brokerCommand(c, line); err != nil {
				fmt.Printf("error: %v\n", err)
			} else {
				fmt.Println(strings.TrimSpace("ok " + answer))
			}
		}
	}
}

func brokerCommand(c *kfake.Cluster, line string) (string, error) {
	fields := strings.Fields(line)
	switch {
	case len(fields) == 3 && fields[0] == "create":
		n, err := strconv.Atoi(fields[2])
		if err != nil || n < 1 {
			return "", fmt.Errorf("bad partition count %q", fields[2])
		}
		if err := c.CreateTopic(fields[1], int32(n), nil); err != nil {
			return "", err
		}
		// kfake gives each partition a leader at random, so one run's topic could have 5 of its 8
		// leaders on one broker and the next 3/3/2, and the same client measured up to twice as
		// fast on one as on the other. Kafka spreads leaders evenly; so does the harness, the same
		// way for every run: partition p on broker p mod brokers.
		brokers := int32(len(c.ListenAddrs()))
		for p := int32(0); p < int32(n); p++ {
			if err := c.MoveTopicPartition(fields[1], p, p%brokers); err != nil {
				return "", err
			}
		}
		return "", nil
	case len(fields) == 2 && fields[0] == "delete":
		if err := c.DeleteTopic(fields[1]); err != nil {
			return "", err
		}
		// The run's records are garbage now; collect them here, between runs, rather than
		// while the next run is measured, and give the pages back so each run's peak is its own.
		debug.FreeOSMemory()
		return "", nil
	case len(fields) == 1 && fields[0] == "peak-rss":
		return strconv.FormatInt(maxRSSKiB(), 10), nil
	}
	return "", fmt.Errorf("bad command %q", line)
}

// brokerProc is the orchestrator's handle on the broker process.
type brokerProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	addrs []string

	stopOnce sync.Once
	stopErr  error
}

func startBroker(ctx context.Context, exe string, brokers int, store bool, stderr io.Writer) (*brokerProc, error) {
	args := []string{"broker", "-brokers", strconv.Itoa(brokers)}
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
		var addrs string
		if addrs, ok = strings.CutPrefix(line, "addr "); ok {
			b.addrs = strings.Split(addrs, ",")
		}
		if !ok || len(b.addrs) != brokers {
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

// do sends one command and returns what followed the "ok" of its answer.
func (b *brokerProc) do(command ...string) (string, error) {
	cmd := strings.Join(command, " ")
	if _, err := fmt.Fprintln(b.in, cmd); err != nil {
		return "", fmt.Errorf("broker %s: %w", cmd, err)
	}
	line, err := b.readLine()
	if err == nil && line != "ok" && !strings.HasPrefix(line, "ok ") {
		err = errors.New(line)
	}
	if err != nil {
		return "", fmt.Errorf("broker %s: %w", cmd, err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "ok")), nil
}

// stop closes the broker's stdin, which makes it exit, and kills it if it does not exit promptly.
// Only the first call acts; later ones return its result.
func (b *brokerProc) stop() error {
	b.stopOnce.Do(func() { b.stopErr = b.terminate() })
	return b.stopErr
}

func (b *brokerProc) terminate() error {
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

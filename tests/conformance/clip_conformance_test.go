// Package conformance runs containerd's own snapshotter test suite (snapshots/testsuite, the one
// containerd runs against its overlayfs snapshotter) against clip-snapshotter, reached the way
// containerd reaches a proxy plugin: gRPC over a unix socket through snapshots/proxy.
//
// Every case starts its own clip-snapshotter on the case's fresh root. The daemon command comes
// from CLIP_SNAPSHOTTER (a path, or "dotnet /path/clip-snapshotter.dll"). Built in GOPATH mode
// against Debian's golang-github-containerd-containerd-dev; see run.sh.
package conformance

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/pkg/dialer"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/overlay"
	"github.com/containerd/containerd/snapshots/proxy"
	"github.com/containerd/containerd/snapshots/testsuite"
	"google.golang.org/grpc"
)

// TestClip is the conformance run proper.
func TestClip(t *testing.T) {
	command := strings.Fields(os.Getenv("CLIP_SNAPSHOTTER"))
	if len(command) == 0 {
		t.Fatal("CLIP_SNAPSHOTTER is not set (path of clip-snapshotter, or \"dotnet clip-snapshotter.dll\")")
	}
	testsuite.SnapshotterSuite(t, "Clip", func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		return startClip(command, root)
	})
}

// TestOverlayReference runs the same suite against containerd's overlayfs snapshotter on this
// machine, so a case that cannot pass here (kernel, filesystem) is told apart from a clip bug.
func TestOverlayReference(t *testing.T) {
	if os.Getenv("CLIP_CONFORMANCE_OVERLAY") == "" {
		t.Skip("set CLIP_CONFORMANCE_OVERLAY=1 to run the overlayfs reference")
	}
	testsuite.SnapshotterSuite(t, "Overlay", func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		sn, err := overlay.NewSnapshotter(root)
		if err != nil {
			return nil, nil, err
		}
		return sn, sn.Close, nil
	})
}

// startClip starts a daemon rooted at root and returns a proxy snapshotter talking to it.
func startClip(command []string, root string) (snapshots.Snapshotter, func() error, error) {
	dir := filepath.Dir(root)
	socket := filepath.Join(dir, "clip.sock")
	logPath := filepath.Join(dir, "clip-snapshotter.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	args := append(append([]string{}, command[1:]...), "--root", root, "--socket", socket, "--log-level", "warn", "--config", "/dev/null")
	cmd := exec.Command(command[0], args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, nil, fmt.Errorf("starting %v: %w", command, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	stop := func() error {
		defer logFile.Close()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				return fmt.Errorf("clip-snapshotter exited with %v (log: %s)", err, logPath)
			}
			return nil
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("clip-snapshotter did not stop on SIGTERM within 30s (log: %s)", logPath)
		}
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			logFile.Close()
			out, _ := os.ReadFile(logPath)
			return nil, nil, fmt.Errorf("clip-snapshotter exited before listening (%v): %s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			_ = stop()
			return nil, nil, fmt.Errorf("clip-snapshotter did not listen on %s within 60s", socket)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Dial exactly as containerd dials a proxy plugin (services/server: proxyClients.getClient):
	// a unix:// target, which also makes grpc send ":authority: localhost".
	conn, err := grpc.Dial(dialer.DialAddress(socket), grpc.WithInsecure(), grpc.WithContextDialer(dialer.ContextDialer))
	if err != nil {
		_ = stop()
		return nil, nil, err
	}
	sn := proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), "clip")
	cleanup := func() error {
		cerr := conn.Close()
		if err := stop(); err != nil {
			return err
		}
		return cerr
	}
	return sn, cleanup, nil
}

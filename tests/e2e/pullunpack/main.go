// pullunpack pulls an image with containerd's client unpacker (client.Pull with WithPullUnpack),
// as nerdctl does: each layer is prepared with only the containerd.io/snapshot.ref label (the
// chain ID) and no image labels. clip's tests use it to exercise the chain-ID path, which
// `ctr image pull` (image.Unpack, no labels at all) and `ctr-remote image rpull` (image labels)
// do not reach.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/remotes/docker"
)

func main() {
	address := flag.String("address", "/run/containerd/containerd.sock", "containerd socket")
	namespace := flag.String("namespace", "default", "containerd namespace")
	snapshotter := flag.String("snapshotter", "clip", "snapshotter to unpack into")
	plainHTTP := flag.Bool("plain-http", false, "talk plain HTTP to the registry")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: pullunpack [flags] REF")
		os.Exit(2)
	}
	client, err := containerd.New(*address)
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), *namespace)
	hostOpts := []docker.RegistryOpt{}
	if *plainHTTP {
		hostOpts = append(hostOpts, docker.WithPlainHTTP(docker.MatchAllHosts))
	}
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(hostOpts...)})
	img, err := client.Pull(ctx, flag.Arg(0), containerd.WithPullUnpack, containerd.WithPullSnapshotter(*snapshotter), containerd.WithResolver(resolver))
	if err != nil {
		fmt.Fprintln(os.Stderr, "pull:", err)
		os.Exit(1)
	}
	fmt.Println(img.Name())
}

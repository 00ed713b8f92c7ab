// Command etcd is the etcd server, built from go.etcd.io/etcd/server/v3 for
// netsched's local dev cluster (etcd 3.6 is the line Kubernetes 1.36 is tested with).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}

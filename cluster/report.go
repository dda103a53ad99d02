package cluster

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// manifestsKeys holds, under each node's lease, the hash of the revision
// its own manifests are at (cluster/manifests/<name>).
const manifestsKeys = "manifests/"

// SetManifests records, under the node's lease, the hash of the revision
// the node's own manifests are at, so that Status shows the nodes whose
// manifests differ from the published target. It goes with the lease.
func (n *Node) SetManifests(ctx context.Context, hash string) error {
	if _, err := n.cli.Put(ctx, n.keys.root+manifestsKeys+n.name, hash, clientv3.WithLease(clientv3.LeaseID(n.lease))); err != nil {
		return fmt.Errorf("cluster: record the manifests of %s: %w", n.name, err)
	}
	return nil
}

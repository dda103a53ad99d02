package cluster

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Status is the cluster as etcd holds it at one moment: what `converge
// cluster status -o json` prints.
type Status struct {
	// Leader is the leading node's name; empty when none leads.
	Leader string `json:"leader"`
	// View is the ID of the live members' set.
	View string `json:"view"`
	// Resources is how many resource IDs the shares were counted over.
	Resources int          `json:"resources"`
	Nodes     []NodeStatus `json:"nodes"`
	// At is when the status was read.
	At time.Time `json:"at"`
}

// NodeStatus is one live node in a Status.
type NodeStatus struct {
	Name   string `json:"name"`
	Lease  string `json:"lease"`
	Leader bool   `json:"leader"`
	// Share is how many of the resource IDs the node owns.
	Share int `json:"share"`
	// Expires is when the node's lease expires unless kept alive, and
	// LeaseRemainingSeconds how long that is from At.
	Expires               time.Time `json:"expires"`
	LeaseRemainingSeconds int64     `json:"leaseRemainingSeconds"`
	// Settled says that the node adopted the current view.
	Settled bool `json:"settled"`
	// Manifests is the hash of the revision the node's own manifests are
	// at (Node.SetManifests); empty when it said none.
	Manifests string `json:"manifests,omitempty"`
}

// Members returns the live nodes, sorted by name, with when their leases
// expire.
func (n *Node) Members(ctx context.Context) ([]Member, error) {
	return Members(ctx, n.cli, n.cfg.Prefix)
}

// Status returns the cluster's status, the shares counted over ids.
func (n *Node) Status(ctx context.Context, ids []string) (Status, error) {
	return ReadStatus(ctx, n.cli, n.cfg.Prefix, ids)
}

// Members returns the live nodes of the cluster under prefix, sorted by
// name, with when their leases expire. It needs no node: a machine that
// only runs the CLI can ask.
func Members(ctx context.Context, cli *clientv3.Client, prefix string) ([]Member, error) {
	k := newKeys(prefix)
	resp, err := cli.Get(ctx, k.members, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("cluster: members: %w", err)
	}
	ms := make([]Member, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m := Member{Name: strings.TrimPrefix(string(kv.Key), k.members), Lease: strconv.FormatInt(kv.Lease, 16), lease: kv.Lease}
		asked := time.Now()
		ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(kv.Lease))
		if err != nil {
			return nil, fmt.Errorf("cluster: members: lease of %s: %w", m.Name, err)
		}
		if ttl.TTL < 0 {
			continue // expired since the read
		}
		m.Expires = asked.Add(time.Duration(ttl.TTL) * time.Second)
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	return ms, nil
}

// ReadStatus returns the status of the cluster under prefix, the shares
// counted over ids. It needs no node.
func ReadStatus(ctx context.Context, cli *clientv3.Client, prefix string, ids []string) (Status, error) {
	k := newKeys(prefix)
	ms, err := Members(ctx, cli, prefix)
	if err != nil {
		return Status{}, err
	}
	at := time.Now()
	acks, err := cli.Get(ctx, k.acks, clientv3.WithPrefix())
	if err != nil {
		return Status{}, fmt.Errorf("cluster: status: %w", err)
	}
	acked := map[string]string{}
	for _, kv := range acks.Kvs {
		acked[strings.TrimPrefix(string(kv.Key), k.acks)] = string(kv.Value)
	}
	mans, err := cli.Get(ctx, k.root+manifestsKeys, clientv3.WithPrefix())
	if err != nil {
		return Status{}, fmt.Errorf("cluster: status: %w", err)
	}
	manifests := map[string]string{}
	for _, kv := range mans.Kvs {
		manifests[strings.TrimPrefix(string(kv.Key), k.root+manifestsKeys)] = string(kv.Value)
	}
	// The leader is the election key created first (see
	// concurrency.Election).
	lead, err := cli.Get(ctx, k.election, clientv3.WithFirstCreate()...)
	if err != nil {
		return Status{}, fmt.Errorf("cluster: status: leader: %w", err)
	}
	v := newView(ms)
	shares := Shares(ids, v.names)
	st := Status{View: v.ID, Resources: len(ids), At: at, Nodes: make([]NodeStatus, 0, len(ms))}
	if len(lead.Kvs) > 0 {
		st.Leader = string(lead.Kvs[0].Value)
	}
	for _, m := range v.Members {
		st.Nodes = append(st.Nodes, NodeStatus{
			Name:                  m.Name,
			Lease:                 m.Lease,
			Leader:                m.Name == st.Leader,
			Share:                 shares[m.Name],
			Expires:               m.Expires,
			LeaseRemainingSeconds: int64(m.Expires.Sub(at).Round(time.Second) / time.Second),
			Settled:               acked[m.Name] == v.ID,
			Manifests:             manifests[m.Name],
		})
	}
	return st, nil
}

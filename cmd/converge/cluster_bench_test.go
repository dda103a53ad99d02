package main

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkClusterThroughput converges 300 cloud.Bucket resources with 1,
// 2 and 3 nodes against cloudsim at 50 ms per call, each node with its
// own cap of 4 workers (so one node has 4 calls in flight at most): the
// time from the manifests' change to every bucket Ready, each made once.
// The nodes have settled on a one-bucket set before the clock starts, so
// the figure is the converge, not the start-up. Reported: resources/s;
// the scaling ratio is nodes=3 over nodes=1 in the same run.
//
//	go test -run '^$' -bench ClusterThroughput -benchtime 1x ./cmd/converge
func BenchmarkClusterThroughput(b *testing.B) {
	const n = 300
	for _, nodes := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				f := newFleet(b, 50*time.Millisecond)
				seed := buckets(b, f.manifests, 0, 1)
				var names []string
				for i := 1; i <= nodes; i++ {
					name := fmt.Sprintf("n%d", i)
					names = append(names, name)
					f.start(name)
				}
				eventually(b, 30*time.Second, "the nodes settle", f.settled(names...))
				eventually(b, 30*time.Second, "the seed converges", f.converged(seed, ""))
				b.StartTimer()
				start := time.Now()
				ids := buckets(b, f.manifests, 0, n+1)
				eventually(b, 5*time.Minute, "the set converges", f.converged(ids, ""))
				took := time.Since(start)
				b.StopTimer()
				f.createdOnce(bucketNames(ids))
				b.ReportMetric(float64(n)/took.Seconds(), "resources/s")
				for _, name := range names {
					f.nodes[name].cmd.Process.Kill()
					<-f.nodes[name].done
				}
			}
		})
	}
}

func bucketNames(ids []string) []string { return names(ids) }

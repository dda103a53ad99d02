// Package bench measures converge as its users run it: the real binary,
// built once by TestMain, as a daemon on a real file tree. It holds tests
// and benchmarks only:
//
//	go test ./bench/                                 # the daemon heals hand edits with --resync 1h
//	go test -run xxx -bench Heal -benchtime 200x ./bench/   # how fast: p50, p90 and max
package bench

# Developer entry points. CI runs .ci/run (go test ./...).
GO ?= go

.PHONY: all test race vet lint bench build clean

all: lint test build

test:
	$(GO) test ./...

race:
	$(GO) test -race ./...

vet:
	$(GO) vet ./...

# lint fails when a file is not gofmt-formatted, then runs go vet and
# staticcheck (fetched through the module proxy at a pinned version).
lint:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench:
	$(GO) test -run x -bench . ./...

build:
	$(GO) build -o converge ./cmd/converge

clean:
	rm -f converge

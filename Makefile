# bgjob — build, test, demo. `make help` lists the targets.

SHELL := /bin/bash
GO ?= go
# Static binaries: no dynamic loader on every start (about 1 ms here), which
# every CLI call and every runtime process would pay. (Tests keep cgo: -race
# needs it.)
GOBUILD := CGO_ENABLED=0 $(GO) build
BIN := $(CURDIR)/bin
GOOS := $(shell $(GO) env GOOS)
GOARCH := $(shell $(GO) env GOARCH)
# The shell runtime's two lines, each built for this machine's architecture
# and its 32-bit sibling (for --run-as-32; bgjobd knows the mapping).
SHELL_VERSION := 2.0.0
LEGACY_VERSION := 1.5.0
# What `bgjob --version` says.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# Tools for `make generate`, pinned; installed into .tools/ on demand.
PROTOC_GEN_GO := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TOOLS := $(CURDIR)/.tools

.PHONY: install help build auth install-runtimes install-system man demo test unit integration lint generate bench soak fuzz clean

help:
	@echo "make build     build bin/bgjob, bin/bgjobd, the runtimes (shell 1.x and 2.x, 64- and 32-bit) and the job type plugins (Copy, ScheduledJob); install them into the catalog"
	@echo "make install   install bgjob, bgjobd and bgjob-auth into $(PREFIX)/bin (the plugins are in your catalog already)"
	@echo "make install-system  (as root) install the system host: binaries in $(SYSTEM_PREFIX)/bin, runtimes, PAM service, systemd unit"
	@echo "make man       build, then write the man pages (bgjob.1, bgjob-start.1, ...) into man/"
	@echo "make demo      build, then run a short real session in a scratch BGJOB_HOME"
	@echo "make test      lint and run every test (unit with -race, integration)"
	@echo "make bench     print the benchmark figures the README quotes"
	@echo "make generate  regenerate the protobuf code (needs protoc: apt-get install protobuf-compiler)"
	@echo "make soak      the crash suite for SOAK (default 2h): hosts killed at random, every line checked"
	@echo "make fuzz      each fuzz target for FUZZTIME (default 1m)"

# Go's linker writes its output through mmap, and the kernel keeps a file
# written that way in pages that start slower on every exec, for as long as
# they stay cached (bgjob --version: 1.6 ms as linked, 1.4 ms for the same
# bytes copied, the same again once the cache is dropped). The CLI runs once
# a call, so bin/bgjob and bin/bgjobd are copies of what the linker wrote
# (into bin/.link), put in place by a rename: never a half-written binary,
# nor "text file busy" over one running.
build:
	$(GOBUILD) -ldflags "-X main.version=$(VERSION)" -o $(BIN)/.link/bgjob ./cmd/bgjob
	$(GOBUILD) -o $(BIN)/.link/bgjobd ./cmd/bgjobd
	@for b in bgjob bgjobd; do cp $(BIN)/.link/$$b $(BIN)/.link/$$b.copy && mv -f $(BIN)/.link/$$b.copy $(BIN)/$$b; done
	$(MAKE) --no-print-directory auth
	@set -e; arch32=$$($(BIN)/bgjobd arch32 $(GOOS) $(GOARCH) || true); \
	for arch in $(GOARCH) $$arch32; do for v in $(SHELL_VERSION) $(LEGACY_VERSION); do \
		echo "build shell $$v for $(GOOS)/$$arch"; \
		GOARCH=$$arch $(GOBUILD) -ldflags "-X main.version=$$v" -o $(BIN)/plugins/$(GOOS)_$$arch/$$v/bgjob-shell ./cmd/bgjob-shell; \
	done; done
	@set -e; for p in copy scheduled; do \
		echo "build job type plugin $$p for $(GOOS)/$(GOARCH)"; \
		$(GOBUILD) -o $(BIN)/plugins/$(GOOS)_$(GOARCH)/$$p/bgjob-$$p ./cmd/bgjob-$$p; \
	done
	$(MAKE) --no-print-directory install-runtimes

# bgjob-auth checks passwords for `bgjob start --credential` through PAM,
# which needs cgo and PAM's headers; it is the one dynamic binary, so the
# host and the CLI stay static. Without the headers the build says so and
# goes on: the system host then refuses password-based --credential
# clearly, and root's --credential still works.
auth:
	@if [ -f /usr/include/security/pam_appl.h ]; then \
		echo "build bgjob-auth (PAM)"; CGO_ENABLED=1 $(GO) build -o $(BIN)/bgjob-auth ./cmd/bgjob-auth; \
	else \
		echo "note: PAM's headers are missing (apt-get install libpam0g-dev): bgjob-auth is built without PAM and cannot check passwords"; \
		CGO_ENABLED=0 $(GO) build -o $(BIN)/bgjob-auth ./cmd/bgjob-auth; \
	fi

# Installs into $BGJOB_RUNTIMES when set, else the default catalog, which is
# where bin/bgjob looks too. --force: a rebuild from changed sources keeps
# its version, and replaces what the last build installed.
install-runtimes:
	$(BIN)/bgjob runtime install --force $(BIN)/plugins/*/*/bgjob-shell $(BIN)/plugins/*/*/bgjob-copy $(BIN)/plugins/*/*/bgjob-scheduled

# For one user: the binaries into PREFIX/bin (~/.local/bin by default, on
# PATH in most shells' profiles); build put the runtimes and plugins into
# the user's catalog already, and bgjob finds bgjobd beside itself.
PREFIX ?= $(HOME)/.local
install: build
	install -d -m 0755 $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN)/bgjob $(BIN)/bgjobd $(BIN)/bgjob-auth $(DESTDIR)$(PREFIX)/bin/

# The system host (`bgjob host --system`), as root: the binaries, the
# runtimes into its catalog, the PAM service bgjob-auth asks, and the
# systemd unit (not started: `systemctl daemon-reload && systemctl enable
# --now bgjob`).
SYSTEM_PREFIX ?= /usr/local
SYSTEM_HOME := /var/lib/bgjob
install-system: build
	install -d -m 0755 $(DESTDIR)$(SYSTEM_PREFIX)/bin $(DESTDIR)/etc/pam.d $(DESTDIR)/etc/systemd/system $(DESTDIR)$(SYSTEM_PREFIX)/share/doc/bgjob
	install -m 0755 $(BIN)/bgjob $(BIN)/bgjobd $(BIN)/bgjob-auth $(DESTDIR)$(SYSTEM_PREFIX)/bin/
	install -m 0644 docs/system/pam.d/bgjob $(DESTDIR)/etc/pam.d/bgjob
	sed 's|/usr/local/bin/|$(SYSTEM_PREFIX)/bin/|' docs/system/bgjob.service > $(DESTDIR)/etc/systemd/system/bgjob.service
	install -m 0644 README.md $(DESTDIR)$(SYSTEM_PREFIX)/share/doc/bgjob/
	install -d -m 0711 $(DESTDIR)$(SYSTEM_HOME)
	BGJOB_RUNTIMES=$(DESTDIR)$(SYSTEM_HOME)/runtimes $(BIN)/bgjob runtime install --force $(BIN)/plugins/*/*/bgjob-shell $(BIN)/plugins/*/*/bgjob-copy $(BIN)/plugins/*/*/bgjob-scheduled

# The man pages, from the commands' help (bgjob's hidden `man` command).
man: build
	$(BIN)/bgjob man $(CURDIR)/man

demo: build
	@bash docs/demo.sh $(BIN)/bgjob

test: lint unit integration

unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /integration)

integration:
	$(GO) test -count=1 -timeout 15m ./integration/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=windows $(GO) build ./...
	GOOS=windows $(GO) vet ./...
	GOARCH=386 $(GO) build ./...
	GOBIN=$(TOOLS) $(GO) install $(STATICCHECK)
	$(TOOLS)/staticcheck ./...

generate:
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO_GRPC)
	PATH=$(TOOLS):$$PATH protoc -I sdk/proto/runtimev2 \
		--go_out=. --go_opt=module=github.com/bgjob/bgjob \
		--go-grpc_out=. --go-grpc_opt=module=github.com/bgjob/bgjob \
		sdk/proto/runtimev2/runtime.proto

bench: build
	bash bench/figures.sh $(BIN)
	bash bench/breakdown.sh $(BIN)
	bash bench/versions.sh $(BIN)
	bash bench/peers.sh $(BIN)
	bash bench/crowd.sh $(BIN)
	bash bench/foreach.sh $(BIN)
	bash bench/drain.sh $(BIN)
	bash bench/slurm.sh $(BIN) || echo 'bench/slurm.sh: skipped (no Slurm cluster here; integration/slurm-setup.sh makes one)'
	bash bench/ssh.sh $(BIN) || echo 'bench/ssh.sh: skipped (no computers to reach; integration/ssh-setup.sh makes two for the user bgjt-ssh: sudo -u bgjt-ssh bench/ssh.sh)'
	$(GO) test -run '^$$' -bench 'Table100k|Start' -benchtime 1x ./host/
	$(GO) test -run '^$$' -bench 'TableScale' -benchtime 100x ./host/
	$(GO) test -run '^$$' -bench 'Queue|BatchChild' -benchtime 2000x ./host/internal/jobs/
	$(GO) test -run '^$$' -bench 'ChainFails' -benchtime 10x ./host/internal/jobs/
	$(GO) test -run '^$$' -bench 'Acquire' -benchtime 20x ./host/internal/sshloc/

SOAK ?= 2h
soak:
	BGJOB_SOAK=$(SOAK) $(GO) test -count=1 -v -run TestCrashSuite -timeout 0 ./integration/

FUZZTIME ?= 1m
# Every fuzz target in the module, found in the test files, so that one
# added or moved is never left out (FuzzWildcard fuzzed nothing for a
# while after its package moved).
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' host cmd sdk runtimes plugins 2>/dev/null); do \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "== $$t ./$$(dirname $$f)/"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f)/; \
	  done; done

clean:
	rm -rf $(BIN) $(TOOLS) $(CURDIR)/man

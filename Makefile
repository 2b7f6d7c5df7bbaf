# The two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
DATA_DIR ?= ./talos-data

.PHONY: run test test-cgroup2 fuzz build deps test-deps bench-http bench-auth

## Install what is missing, build, and serve https://127.0.0.1:8443 from ./talos-data (SQLite):
## the server as the unprivileged user talos, a sandbox worker beside it; Ctrl-C stops both.
run: deps build
	DATA_DIR=$(DATA_DIR) scripts/run.sh

## Install what is missing (PostgreSQL included) and run every test on SQLite and PostgreSQL.
test: test-deps
	scripts/test.sh

## The sandbox suites on a cgroup v2 kernel: a small Debian VM under qemu (software
## emulation), the engine at the hierarchy's root, in a service cgroup and in a
## delegated subtree with its own cgroup namespace. Reuses the debug build.
test-cgroup2: test-deps
	scripts/test-cgroup2.sh

## schemathesis against /openapi.json with EXAMPLES examples per operation, role and
## database, then every libFuzzer target for FUZZ_SECONDS each.
EXAMPLES ?= 200
FUZZ_SECONDS ?= 600
fuzz: test-deps
	SCHEMA_FUZZ_EXAMPLES=$(EXAMPLES) scripts/test.sh --filter SchemaFuzzTests
	scripts/fuzz-parsers.sh $(FUZZ_SECONDS)

build:
	swift build
	scripts/build-launcher.sh debug

deps:
	scripts/install-deps.sh run

test-deps:
	scripts/install-deps.sh test

## wrk against /healthz over TLS for 10 s (see bench/http).
bench-http: deps build
	bench/http

## Sign-ins, refreshes and authenticated reads over TLS (see bench/auth).
bench-auth: deps build
	bench/auth

# Shutter: `make run` starts the whole mesh on embedded defaults, `make test` runs the suite.
# Both set everything up from a fresh clone: the virtualenv, pinned dependencies, Go tools.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := $(CURDIR)/.tools
GOBIN := $(TOOLS)/bin
GRPCURL_VERSION := v1.9.3
HELM_VERSION := v3.19.5
GHZ_VERSION := v0.120.0
VEGETA_VERSION := v12.13.0
# The trace backend for `make run` (SHUTTER_TRACING=1) and the telemetry tests.
JAEGER_VERSION := v1.76.0
AXE_VERSION := 4.14.1
BENCH_TOOLS := $(GOBIN)/ghz $(GOBIN)/vegeta
export PATH := $(CURDIR)/$(VENV)/bin:$(GOBIN):$(PATH)

PROTOS := $(shell find protos -name '*.proto' | sort)

.PHONY: run run-traced test venv tools jaeger weed seaweedfs browser cassandra-jars cassandra cluster-cassandra proto check-gen chart-values settings-doc lint bench bench-quick bench-replicas profile capacity clean

# SHUTTER_STORE=cql make run: the same mesh on the CQL backend, with a local Cassandra node and a local
# SeaweedFS for the photo bytes (the object store). grpcurl (into .tools/bin) is for poking at the
# running services, as the README shows. SHUTTER_TRACING=1 make run (or make run-traced): every request
# traced into a local Jaeger. SHUTTER_REPLICAS=2 make run: two replicas of every service, each on its own port and
# id shard, every caller balancing over them (round_robin), as the chart's StatefulSets and headless Services do.
run: venv $(GOBIN)/grpcurl $(if $(filter cql,$(SHUTTER_STORE)),cassandra-jars $(GOBIN)/weed) $(if $(filter 1,$(SHUTTER_TRACING)),$(GOBIN)/jaeger)
	$(PY) -m services.runtime.mesh

run-traced:
	SHUTTER_TRACING=1 $(MAKE) run

test: venv tools cassandra-jars browser check-gen lint
	$(PY) -m pytest

venv: $(VENV)/.stamp

$(VENV)/.stamp: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	# Generated code lives in gen/; make it importable the way the repo root is.
	echo "$(CURDIR)/gen" > $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/shutter-gen.pth
	touch $@

jaeger: $(GOBIN)/jaeger

tools: $(GOBIN)/grpcurl $(GOBIN)/helm $(GOBIN)/jaeger $(BENCH_TOOLS) $(GOBIN)/weed

$(GOBIN)/grpcurl:
	GOBIN=$(GOBIN) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

$(GOBIN)/helm:
	GOBIN=$(GOBIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(GOBIN)/ghz:
	GOBIN=$(GOBIN) go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)

$(GOBIN)/vegeta:
	GOBIN=$(GOBIN) go install github.com/tsenart/vegeta/v12@$(VEGETA_VERSION)

# `go install jaeger@version` refuses (its go.mod has replace directives), so build it the long way: the
# module from the proxy (verified against go.sum), a writable copy, `go build ./cmd/jaeger` there (~4 min
# cold on 2 cores), then a rename, so an interrupted build never leaves a half-written binary.
$(GOBIN)/jaeger:
	@set -euo pipefail; mkdir -p $(GOBIN); \
	src=$$(go mod download -json github.com/jaegertracing/jaeger@$(JAEGER_VERSION) \
	  | $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'); \
	work=$$(mktemp -d); trap 'chmod -R u+w "$$work"; rm -rf "$$work"' EXIT; \
	cp -R "$$src" "$$work/jaeger"; chmod -R u+w "$$work/jaeger"; \
	echo "building jaeger $(JAEGER_VERSION) (a few minutes, once)"; \
	(cd "$$work/jaeger" && nice go build -o "$$work/jaeger.bin" ./cmd/jaeger); \
	mv "$$work/jaeger.bin" "$(GOBIN)/.jaeger.$$$$" && mv "$(GOBIN)/.jaeger.$$$$" $@

# SeaweedFS (the S3 object store for photo bytes) for tests, benchmarks and `SHUTTER_STORE=cql make run`.
# `go install` refuses its module (replace directives), so it is built from the pinned module in a
# writable copy (~5.5 min cold on 2 cores, niced; seconds warm) and renamed into place when done.
weed: $(GOBIN)/weed

$(GOBIN)/weed: | venv
	$(PY) -m tests.support.seaweedfs build

# One local SeaweedFS with S3 on 127.0.0.1:$${SHUTTER_S3_PORT:-8333}; Ctrl-C stops it.
seaweedfs: venv $(GOBIN)/weed
	$(PY) -m tests.support.seaweedfs run

# tests/browser drive Debian's chromium through chromium-driver (installed here when missing: CI is a
# fresh root machine; never a browser download) and check pages with axe-core, pinned, from npm.
AXE := $(TOOLS)/axe-core-$(AXE_VERSION)/node_modules/axe-core/axe.min.js
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

browser: $(AXE)
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends chromium chromium-driver; \
	fi

$(AXE):
	npm install --prefix $(TOOLS)/axe-core-$(AXE_VERSION) --no-save --no-package-lock --no-audit --no-fund axe-core@$(AXE_VERSION)

# Apache Cassandra 5.0 (CQL-compatible with ScyllaDB) for the CQL conformance tests, fetched by Maven
# into .tools/cassandra/lib (artifacts also cached in ~/.m2). Re-fetched only when the pom changes.
CASSANDRA_STAMP := $(TOOLS)/cassandra/lib.sha256

cassandra-jars: $(CASSANDRA_STAMP)

$(CASSANDRA_STAMP): tests/support/cassandra/pom.xml | venv
	$(PY) -m tests.support.cassandra fetch

# One local node on 127.0.0.1:$${SHUTTER_CQL_PORT:-9042} for `SHUTTER_STORE=cql make run`; Ctrl-C stops it.
cassandra: venv cassandra-jars
	$(PY) -m tests.support.cassandra run

# Three Cassandra nodes (127.0.0.1-3, RF=3) under the user, photo and like services; one node SIGKILLed under
# load, restarted, hints delivered, then checked alone (tests/scale/cassandra_outage.py). Minutes on 2 cores,
# hence not part of `make test`; prints its figures and exits 1 if reads/writes stopped or a node did not converge.
cluster-cassandra: venv cassandra-jars
	$(PY) -m tests.scale.cassandra_outage --json var/scale/cassandra.json

proto: venv
	$(PY) -m tools.protogen gen

# Fails when gen/ does not match what protos/ generates.
check-gen: venv
	$(PY) -m tools.protogen --check gen

# charts/shutter/topology.yaml from services/runtime/topology.py; tests/deploy fails when it is stale.
chart-values: venv
	$(PY) -m tools.chartgen

# docs/settings.md from the settings every process declares; tests/unit/test_settings.py fails when it is stale.
settings-doc: venv
	$(PY) -m tools.settingsdoc

lint: venv
	$(VENV)/bin/ruff check .

bench: venv $(BENCH_TOOLS) $(GOBIN)/weed
	$(PY) -m bench

bench-quick: venv $(BENCH_TOOLS) $(GOBIN)/weed
	$(PY) -m bench --quick

# Where the view path spends its time: py-spy on view, photo, like and comment under ghz load.
profile: venv $(GOBIN)/ghz
	$(PY) -m bench.profile

# The design mix with 1 and with 2 replicas of every service (bench/out/replicas.json, read by `make capacity`).
bench-replicas: venv
	$(PY) -m bench.replicas

capacity: venv
	$(PY) -m bench.capacity

clean:
	rm -rf $(VENV) $(TOOLS) var

# clip — containerd remote snapshotter. Targets follow containerd's Makefile conventions.
CONFIGURATION ?= Release
DOTNET ?= dotnet
PREFIX ?= /usr/local
BINDIR := $(CURDIR)/bin
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1

.PHONY: all build test demo bench bench-images bench-index bench-lazy bench-fuse bench-start install uninstall clean

all: build

## build: Release build; runnable bin/clipctl and bin/clip-snapshotter
build:
	$(DOTNET) publish src/Clip.Cli/Clip.Cli.csproj -c $(CONFIGURATION) -o $(BINDIR) --nologo -v quiet
	$(DOTNET) publish src/Clip.Snapshotter/Clip.Snapshotter.csproj -c $(CONFIGURATION) -o $(BINDIR) --nologo -v quiet
	@echo "built $(BINDIR)/clipctl and $(BINDIR)/clip-snapshotter"

## demo: end to end on a fresh machine: registry, containerd with clip, lazy pull and run (root)
demo:
	bash script/demo.sh

## test: every test suite (root, FUSE and containerd tests run when root; CI sets CLIP_REQUIRE_PRIVILEGED_TESTS=1)
test:
	$(DOTNET) test Clip.sln -c $(CONFIGURATION) --nologo --logger "console;verbosity=normal"

## bench-images: build the benchmark images from Debian packages (root, needs a Debian mirror)
bench-images:
	bash bench/images/build-images.sh

## bench: every benchmark; each writes its report under docs/ (root)
bench: bench-index bench-lazy bench-fuse bench-start

## bench-index: indexing time vs gunzip, index size, load cost, random reads (docs/bench-index.md)
bench-index: bench-images
	$(DOTNET) run --project bench/Clip.Bench/Clip.Bench.csproj -c Release -- index bench/out/images/layout:python --runs 5 --report docs/bench-index.md

## bench-lazy: bytes and latency of one cold small-file read from a registry (docs/bench-lazy.md)
bench-lazy:
	bash bench/lazy/run.sh

## bench-fuse: FUSE throughput and metadata speed against local disk (bench/fuse/README.md)
bench-fuse:
	$(DOTNET) run --project bench/fuse/Clip.FuseBench/Clip.FuseBench.csproj -c Release

## bench-start: cold container start, clip vs overlayfs, on a shaped network (docs/benchmarks.md, docs/benchmarks.png)
bench-start: build bench-images
	bash bench/start/bench-start.sh

## install: binaries under $(PREFIX)/lib/clip with links in $(PREFIX)/bin, the systemd unit, /etc/clip/config.toml (kept if present)
install: build
	install -d $(DESTDIR)$(PREFIX)/lib/clip $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/clip $(DESTDIR)/etc/systemd/system
	cp -a $(BINDIR)/. $(DESTDIR)$(PREFIX)/lib/clip/
	ln -sf $(PREFIX)/lib/clip/clipctl $(DESTDIR)$(PREFIX)/bin/clipctl
	ln -sf $(PREFIX)/lib/clip/clip-snapshotter $(DESTDIR)$(PREFIX)/bin/clip-snapshotter
	sed 's#@BINDIR@#$(PREFIX)/bin#g' packaging/clip-snapshotter.service > $(DESTDIR)/etc/systemd/system/clip-snapshotter.service
	[ -e $(DESTDIR)/etc/clip/config.toml ] || install -m 0644 packaging/config.toml $(DESTDIR)/etc/clip/config.toml
	-[ -n "$(DESTDIR)" ] || systemctl daemon-reload 2>/dev/null

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/lib/clip $(DESTDIR)$(PREFIX)/bin/clipctl $(DESTDIR)$(PREFIX)/bin/clip-snapshotter
	rm -f $(DESTDIR)/etc/systemd/system/clip-snapshotter.service

clean:
	$(DOTNET) clean Clip.sln -c $(CONFIGURATION) --nologo -v quiet
	rm -rf $(BINDIR)

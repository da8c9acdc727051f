# ckpt: build, demo and test on a Debian machine with the Swift toolchain.
#   make demo   installs what is missing (apt), builds, and runs ckpt on the shipped fixtures
#   make test   installs what is missing (apt), builds, and runs the test suite

SWIFT ?= swift
APT_PACKAGES = libhdf5-dev zlib1g-dev libopenblas-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CKPT = .build/release/ckpt

.PHONY: deps build release demo test clean

# Installs the C libraries ckpt links against, only when pkg-config cannot find them.
deps:
	@if ! pkg-config --exists hdf5 zlib openblas 2>/dev/null; then \
		echo "installing $(APT_PACKAGES) with apt-get"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release
	mkdir -p out

# The main job on the fixtures: what did LayerNorm-only fine-tuning change, and how small is the
# patch that ships it? (outputs go to out/, which git ignores)
demo: release
	$(CKPT) inspect fixtures/tiny-bert/base
	@echo
	$(CKPT) diff fixtures/tiny-bert/base fixtures/tiny-bert/ft-layernorm --html out/diff.html
	@echo
	$(CKPT) patch fixtures/tiny-bert/base fixtures/tiny-bert/ft-layernorm -o out/layernorm.patch
	$(CKPT) apply fixtures/tiny-bert/base out/layernorm.patch -o out/task-model.safetensors
	$(CKPT) verify out/layernorm.patch --base fixtures/tiny-bert/base --finetuned fixtures/tiny-bert/ft-layernorm

# Every test is XCTest; Swift Testing is switched off so the run ends on XCTest's summary line.
test: deps
	$(SWIFT) build
	$(SWIFT) test --disable-swift-testing

clean:
	rm -rf .build

# ckpt: shortcuts for scripts/dev.sh, which does the work (it needs only bash, apt and swift).
#   make demo   installs what is missing (apt), builds, and runs ckpt on the shipped fixtures
#   make test   installs what is missing (apt), builds, and runs the test suite
#   make check-consumer   builds a package that depends on CheckpointKit by version (scripts/check-consumer.sh)

.PHONY: deps build release demo test check-consumer clean

deps:
	scripts/dev.sh deps

build: deps
	swift build

release: deps
	swift build -c release

demo:
	scripts/dev.sh demo

test:
	scripts/dev.sh test

check-consumer: deps
	scripts/check-consumer.sh

clean:
	rm -rf .build out

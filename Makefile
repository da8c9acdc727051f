# ckpt: shortcuts for scripts/dev.sh, which does the work (it needs only bash, apt and swift).
#   make demo   installs what is missing (apt), builds, and runs ckpt on the shipped fixtures
#   make test   installs what is missing (apt), builds, and runs the test suite

.PHONY: deps build release demo test clean

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

clean:
	rm -rf .build out

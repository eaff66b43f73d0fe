# Tessera: build, test and demo targets (see README.md).

GO      ?= go
BIN     := bin/tessera
PKGS    := ./...

.DEFAULT_GOAL := build

.PHONY: build deps test demo shaders fmt bench clean

## deps: install the Vulkan runtime, headers, Lavapipe, validation layers, glslc and Xvfb (Debian/Ubuntu; only what is missing)
deps:
	bash scripts/install-deps.sh

## build: build bin/tessera
build:
	$(GO) build -o $(BIN) ./cmd/tessera

## test: vet, then run every test with Vulkan validation enabled
test: deps
	$(GO) vet $(PKGS)
	TESSERA_VALIDATION=1 GODEBUG=cgocheck=1 $(GO) test -count=1 -timeout 25m $(PKGS)

## demo: list the Vulkan devices, run the benchmarks, evaluate the embedded classifier
demo: deps build
	$(BIN) devices
	$(BIN) bench
	$(BIN) classify eval

## shaders: regenerate the compiled SPIR-V shaders
shaders:
	$(GO) generate ./shaders

## fmt: format all Go source
fmt:
	$(GO) fmt $(PKGS)

## bench: run the Go benchmarks
bench:
	$(GO) test -run '^$$' -bench . $(PKGS)

## clean: remove build outputs
clean:
	rm -rf bin

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

DEMO_OUT ?= demo-out

## demo: adapt the embedded VAE into a CODA tokenizer on the bundled data (a short fine-tune of the embedded tokenizer), evaluate it, write PNGs and metrics to $(DEMO_OUT)
demo: deps build
	$(BIN) devices
	$(BIN) tokenizer train --init pretrained --train 1024 --holdout 2000 --every 16 --eval 200 --out $(DEMO_OUT)
	@echo "demo outputs in $(DEMO_OUT)/: levels.png (per-level reconstructions), grid-*.png, usage.png, metrics.json, metrics.jsonl, tokenizer.safetensors"

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

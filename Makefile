# Two commands on a fresh machine: `make all` builds the book, `make test` tests it.
# Every target depends on setup, which installs what is missing and re-runs only when its inputs change.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps
MANUSCRIPT ?= manuscript
OUT ?= build
# WeasyPrint needs Pango and fontconfig; EPUBCheck needs Java; libgs-common has the CMYK profile for PDF/X.
# chromium-headless-shell renders diagrams and runs Ace (it has no background services that look hosts
# up); strace is for the test that a build reaches no network.
APT_PACKAGES := chromium chromium-headless-shell fonts-noto-cjk fonts-noto-color-emoji poppler-utils \
                default-jre-headless git libgs-common libpango-1.0-0 libpangoft2-1.0-0 fontconfig strace

BUILD_FLAGS := --manuscript $(MANUSCRIPT) --out $(OUT)
ifeq ($(RELEASE),1)
BUILD_FLAGS += --release
endif
ifeq ($(DRAFT),1)
BUILD_FLAGS += --draft
endif
PDF_FLAGS :=
ifeq ($(MARKS),1)
PDF_FLAGS += --marks
endif
ifneq ($(VARIANT),)
PDF_FLAGS += --variant $(VARIANT)
endif

.PHONY: all setup check status diagrams assemble epub pdf pdf-screen validate preview test bench clean distclean

# Make's own dependency tracking makes a rebuild with nothing changed a no-op: outputs depend on the
# manuscript, the code, the styles, and the flags of the last build (rewritten only when they change).
SOURCES := $(MANUSCRIPT)/book.yaml $(wildcard $(MANUSCRIPT)/*.md $(MANUSCRIPT)/*.txt $(MANUSCRIPT)/data/*.yaml \
           $(MANUSCRIPT)/images/* pipeline/*.py pipeline/pandoc/* styles/* templates/* templates/*/* tools/*)
FLAGS_FILE := $(OUT)/.flags
$(shell mkdir -p $(OUT); echo '$(BUILD_FLAGS) $(PDF_FLAGS)' | cmp -s - $(FLAGS_FILE) 2>/dev/null || echo '$(BUILD_FLAGS) $(PDF_FLAGS)' > $(FLAGS_FILE))

all: setup $(OUT)/.all

$(OUT)/.all: $(SOURCES) $(FLAGS_FILE)
	$(PY) -m pipeline all $(BUILD_FLAGS) $(PDF_FLAGS)
	@touch $@

pdf: setup $(OUT)/book.pdf

$(OUT)/book.pdf: $(SOURCES) $(FLAGS_FILE)
	$(PY) -m pipeline pdf $(BUILD_FLAGS) $(PDF_FLAGS)

# The screen PDF: trim size, tagged, the cover first, coloured links (book.yaml's screen:).
pdf-screen: setup $(OUT)/book-screen.pdf

$(OUT)/book-screen.pdf: $(SOURCES) $(FLAGS_FILE)
	$(PY) -m pipeline pdf --target screen $(BUILD_FLAGS)

epub: setup $(OUT)/book.epub

$(OUT)/book.epub: $(SOURCES) $(FLAGS_FILE)
	$(PY) -m pipeline epub $(BUILD_FLAGS)

setup: $(STAMPS)/apt $(STAMPS)/python $(STAMPS)/node

# Debian packages: installed when root, otherwise the exact command is printed and setup stops.
$(STAMPS)/apt: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "setup: installing Debian packages:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "setup: these Debian packages are missing. Run, then re-run make:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends $$missing"; exit 1; \
	  fi; \
	fi
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/python: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@mkdir -p $(STAMPS) && touch $@

# puppeteer-core and Ace use the system Chromium; no browser is downloaded.
$(STAMPS)/node: package.json package-lock.json
	@node -e 'process.exit(parseInt(process.versions.node) >= 20 ? 0 : 1)' 2>/dev/null || { \
	  echo "setup: Node.js 20 or later with npm is needed (Ace and puppeteer-core); install it, then re-run make."; exit 1; }
	PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMPS) && touch $@

check: setup
	$(PY) -m pipeline check --manuscript $(MANUSCRIPT) $(if $(filter 1,$(RELEASE)),--release) $(if $(filter 1,$(STRICT)),--strict)

status: setup
	$(PY) -m pipeline status --manuscript $(MANUSCRIPT) --out $(OUT) $(if $(filter 1,$(HISTORY)),--history)

diagrams assemble: setup
	$(PY) -m pipeline $@ $(BUILD_FLAGS)

validate: setup
	$(PY) -m pipeline validate --out $(OUT)

# The book as web pages on http://127.0.0.1:8000/, rebuilt on every save; PORT=0 picks a free port.
preview: setup
	$(PY) -m pipeline preview $(BUILD_FLAGS) $(if $(PORT),--port $(PORT))

# Two workers, each taking whole test files (their fixtures build a book once per file).
test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: setup
	$(PY) bench/bench_diagrams.py
	$(PY) bench/run.py

clean:
	rm -rf $(OUT)

distclean: clean
	rm -rf $(VENV) node_modules $(STAMPS)

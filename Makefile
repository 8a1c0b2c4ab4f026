# wallpaperd — developer and user entry points.
#   make test   install everything into .venv (first time) and run the whole test suite
#   make run    make today's wallpaper with your config (~/.config/wallpaperd/wallpaperd.yaml)
#   make demo   every stage on the tiny model, on the CPU, in about a minute
#   make install-user  the systemd user service + D-Bus activation (then: systemctl --user enable --now wallpaperd)
#   make install-deps  only the .venv

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# PyTorch first, pinned, from the builds these machines carry (a CUDA build that also runs on
# the CPU); otherwise pip would pick a multi-GB build of its own choosing.
ifeq ($(shell uname -m),aarch64)
TORCH := torch==2.9.1 torchvision==0.24.1
else
TORCH := torch==2.14.1 torchvision==0.29.1
endif

# Debian packages the tests use: a real session bus (dbus-daemon), GNOME's settings store
# (dconf + the desktop schemas + gsettings, and MATE's and Cinnamon's background schemas),
# XFCE's (xfconfd), Node.js for the Plasma
# script stub, and systemd-analyze for checking the unit file.
DEBIAN_TEST_PACKAGES := dbus-daemon dconf-service dconf-cli gsettings-desktop-schemas \
	libglib2.0-bin xfconf nodejs systemd mate-desktop-common cinnamon-desktop-data

.PHONY: install-deps system-deps test run demo install-user clean

install-deps: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

system-deps:
	@missing=""; for p in $(DEBIAN_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "make test needs the Debian packages:$$missing (sudo apt-get install$$missing)"; exit 1; fi; \
	fi

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

run: $(STAMP)
	$(BIN)/wallpaperd generate

demo: $(STAMP)
	$(BIN)/wallpaperd generate --config etc/demo.yaml --no-set --seed 1

install-user: $(STAMP)
	$(BIN)/python -m wallpaperd.daemon.install $(abspath $(BIN))

clean:
	rm -rf $(VENV) out .pytest_cache

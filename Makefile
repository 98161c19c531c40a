# The two commands of the README: `make plan` (offline plan and policy gate) and `make test`.
# Each builds .venv from the pinned requirements when it is missing or out of date.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STACK  ?= dev
OUT    := out

.PHONY: plan render test bench docs preview up clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The policy pack's own environment: PulumiPolicy.yaml names policies/venv, and the Pulumi CLI
# does not create it for a local pack (`--policy-pack policies`).
POLICY_VENV := policies/venv
$(POLICY_VENV)/.installed: policies/requirements.txt
	test -x $(POLICY_VENV)/bin/python || $(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r policies/requirements.txt
	touch $@

## plan: preflight plan of STACK (default dev) to out/plan-STACK.json, then the policy gate over
## that file: the program runs once (tests/test_plan_artefact.py holds the recipe to that)
plan: $(VENV)/.installed
	@mkdir -p $(OUT)
	$(PY) -m preflight plan --stack $(STACK) --json $(OUT)/plan-$(STACK).json
	$(PY) -m preflight check --plan $(OUT)/plan-$(STACK).json --json $(OUT)/policy-$(STACK).json

## render: every Kubernetes object of STACK as YAML under out/manifests-STACK/
render: $(VENV)/.installed
	$(PY) -m preflight render --stack $(STACK) --out $(OUT)/manifests-$(STACK)

## test: the whole offline suite
test: $(VENV)/.installed
	$(PY) -m pytest -q

## bench: how fast the gate is (check --stack prod; check --manifests over 1,000 generated manifests)
bench: $(VENV)/.installed
	$(PY) bench/check_speed.py

## docs: regenerate docs/policies.md and README's config reference from the code (tests fail when stale)
docs: $(VENV)/.installed
	$(PY) -m policies.reference > docs/policies.md
	$(PY) -m components.config.reference --write README.md

## preview / up: the real thing (needs the Pulumi CLI, a backend login and AWS credentials)
preview: $(POLICY_VENV)/.installed
	pulumi preview --stack $(STACK) --policy-pack policies --policy-pack-config policies/config/$(STACK).json

up: $(POLICY_VENV)/.installed
	pulumi up --stack $(STACK) --policy-pack policies --policy-pack-config policies/config/$(STACK).json

clean:
	rm -rf $(OUT) .pytest_cache

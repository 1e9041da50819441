#!/usr/bin/env python3
"""Validate the Knative Services the test suite wrote against Knative's CRD schema.

Usage: validate-knative.py ARTIFACT_DIR [CRD_YAML]

Fails when the directory holds no Service (the check must never pass vacuously), when any
Service does not satisfy the CRD's openAPIV3Schema, or when a deliberately broken Service is
not refused (so the validator itself is known to work).
"""
import copy
import json
import pathlib
import sys

import jsonschema
import yaml


def schema_from(crd_path):
    crd = yaml.safe_load(pathlib.Path(crd_path).read_text())
    version = next(v for v in crd["spec"]["versions"] if v.get("storage", v.get("served")))
    return version["schema"]["openAPIV3Schema"]


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    directory = pathlib.Path(sys.argv[1])
    root = pathlib.Path(__file__).resolve().parent.parent
    crd = sys.argv[2] if len(sys.argv) > 2 else root / "schemas" / "knative-serving-service-crd.yaml"
    validator = jsonschema.Draft7Validator(schema_from(crd))

    files = sorted(directory.glob("*.json"))
    if not files:
        print(f"no Knative Services in {directory}: did the tests run?", file=sys.stderr)
        return 1

    failures = 0
    for path in files:
        service = json.loads(path.read_text())
        errors = sorted(validator.iter_errors(service), key=lambda e: list(e.path))
        for error in errors:
            where = "/".join(str(p) for p in error.path)
            print(f"{path.name}: {where}: {error.message}", file=sys.stderr)
        failures += bool(errors)

    broken = copy.deepcopy(json.loads(files[0].read_text()))
    broken.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})["tolerations"] = "not-a-list"
    if validator.is_valid(broken):
        print("self-test failed: a Service with tolerations as a string was accepted", file=sys.stderr)
        return 1

    print(f"{len(files) - failures}/{len(files)} Knative Services valid against {pathlib.Path(crd).name}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes serve/tests/kserve/inferenceservice-v1beta1.schema.json: the
openAPIV3Schema of KServe's InferenceService CRD (v1beta1), descriptions
dropped (they are most of its 2 MB), for the check of docs/kserve.md's
manifests (serve/tests/python/test_kserve_manifests.py).

    python3 scripts/vendor-kserve-crd.py CRD.yaml [SOURCE]

CRD.yaml: kserve/kserve's config/crd/full/serving.kserve.io_inferenceservices.yaml;
SOURCE (recorded in the output): where it came from (repository and commit).
Needs PyYAML.
"""

import json
import pathlib
import sys

import yaml

OUT = pathlib.Path(__file__).resolve().parents[1] / "serve/tests/kserve/inferenceservice-v1beta1.schema.json"


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def main() -> None:
    crd = yaml.safe_load(pathlib.Path(sys.argv[1]).read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    schema = strip(version["schema"]["openAPIV3Schema"])
    schema["$comment"] = f"KServe InferenceService v1beta1 openAPIV3Schema, descriptions dropped; from {sys.argv[2] if len(sys.argv) > 2 else sys.argv[1]} by scripts/vendor-kserve-crd.py"
    OUT.write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"{OUT}: {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()

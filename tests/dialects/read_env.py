"""Reads .env files the way a podman-compose release does, and prints what it sees as JSON.

Run with the Python that has that release's python-dotenv:
  /usr/bin/python3 read_env.py pc1.0 < cases.json          (Debian: podman-compose 1.0.3, python-dotenv 0.21)
  VENV/bin/python read_env.py pc1.6 < cases.json           (PyPI: podman-compose 1.6, python-dotenv 1.2)
Input: a JSON list of {"text": <file text>, "env": {<process environment>}}.
Output: a JSON list of {"dotenv": {key: value or null}, "compose": {key: value}} or {"error": msg}:
"dotenv" is what podman-compose's own dotenv_to_dict() returns, "compose" the variables it
interpolates the compose file with (its own rule for the process environment versus .env).
"""
import json
import os
import sys
import tempfile

import podman_compose

mode = sys.argv[1]
cases = json.load(sys.stdin)
results = []
saved = dict(os.environ)
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, ".env")
    for case in cases:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(case["text"])
        os.environ.clear()
        os.environ.update(case.get("env", {}))
        try:
            dotenv = podman_compose.dotenv_to_dict(path)
            if mode == "pc1.0":
                # podman-compose 1.0.3, PodmanCompose._parse_compose_file: .env wins.
                compose = dict(os.environ)
                compose.update(dotenv)
            else:
                # podman-compose 1.6, PodmanCompose._parse_compose_file: the environment wins.
                compose = dict(dotenv)
                compose.update(dict(os.environ))
            results.append({"dotenv": dict(dotenv), "compose": compose})
        except Exception as e:  # noqa: BLE001 - any failure is an answer here
            results.append({"error": f"{type(e).__name__}: {e}"})
        finally:
            os.environ.clear()
            os.environ.update(saved)
json.dump(results, sys.stdout)

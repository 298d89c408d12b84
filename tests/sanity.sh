#!/usr/bin/env bash
# ansible-test sanity on the collection. ansible-test insists on running from
# .../ansible_collections/<namespace>/<name>, so copy the tracked (and new, not
# ignored) files there and run it in that copy.
set -euo pipefail
cd "$(dirname "$0")/.."
# ansible-test bootstraps pip in its venvs with a script from ci-files.testing.ansible.com,
# unreachable here: give it the offline stand-in (tests/sanity/get_pip_offline.py).
pip_version=$(python - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
print(get_venv_packages(NativePythonConfig(version="3.11"))["pip"])
PY
)
cache=~/.ansible/test/cache/get_pip_${pip_version//./_}.py
mkdir -p "$(dirname "$cache")"
cmp -s tests/sanity/get_pip_offline.py "$cache" || cp tests/sanity/get_pip_offline.py "$cache"
work=$(mktemp -d /tmp/fp-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/fleetpulse/dr"
mkdir -p "$dest"
git ls-files -co --exclude-standard -z | grep -z -v '^\.collections/' | rsync -a --from0 --files-from=- ./ "$dest/"
cd "$dest"
# ansible-test only looks at files git knows about when it sees a repository.
git init -q && git add -A && git -c user.email=ci@localhost -c user.name=ci commit -qm sanity
ansible-test sanity --python "$(python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" \
  --requirements --color no "$@"

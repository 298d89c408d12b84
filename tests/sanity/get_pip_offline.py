# Offline stand-in for the get-pip.py bootstrap script that ansible-test downloads
# from ci-files.testing.ansible.com, which this machine cannot reach. Like get-pip.py,
# it installs pip into the interpreter running it, then installs what it was asked for
# (the pinned pip release) from PyPI, which is reachable.
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade", "--force-reinstall", *args]))

"""The offline bundle: everything an air-gapped site needs to install dsconsole.

`python3 -m console.bundle build DIR` (on a machine with a package index, from
a source checkout) writes DIR/ and DIR.tar.gz holding the project's wheel and
the wheel of every runtime dependency for one target (console/bundle/target.py),
a requirements.txt pinning each with its SHA-256, and install.sh. On the
air-gapped host `DIR/install.sh` (or `pip install --no-index --find-links DIR
--require-hashes -r DIR/requirements.txt`) installs from DIR alone.
"""

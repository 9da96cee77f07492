"""`python -m trainer.serve RUN_DIR --host H --port P`: see trainer/serve/server.py."""

import sys

from trainer.serve.server import main

sys.exit(main())

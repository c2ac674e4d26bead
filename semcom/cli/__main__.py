"""``python -m semcom.cli``: the ``semcom`` command."""

import sys

from semcom.cli.main import main

sys.exit(main())

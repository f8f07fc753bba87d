"""`python -m appsync` is the `appsync` command."""

import sys

from appsync.cli import main

sys.exit(main())

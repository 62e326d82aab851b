import sys

from cmcore.cli import main

sys.exit(main())

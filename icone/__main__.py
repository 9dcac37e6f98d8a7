import sys

from icone.cli import main

sys.exit(main())

import sys

from motor.cli import main

sys.exit(main())

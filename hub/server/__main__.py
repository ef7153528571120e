import sys

from hub.server.cli import main

sys.exit(main(sys.argv[1:]))

"""``python -m nettrain ...`` runs the command line (see ``nettrain.cli``)."""

from .cli import main

raise SystemExit(main())

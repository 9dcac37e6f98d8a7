"""Exit codes of every `icone` command (README, "Exit codes"): one definition for the CLI and
the command modules."""

EXIT_FAILED = 1  # the command ran and says what failed (a benchmark target missed...)
EXIT_USAGE = 2  # bad configuration or arguments
EXIT_UNAVAILABLE = 3  # a service (broker, database, Grafana) cannot be reached
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM outside the long-running commands

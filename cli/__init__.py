"""The ``gatepose`` command line: parsing, printing and exit codes only; the work is in gatepose/."""

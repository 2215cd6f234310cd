"""The ``starmd`` command line (thin: parse, build a spec, call the library, print)."""

"""A hostile conftest (a real one would exit 0 or force every test to pass): it must never run while
grading, and pytest must never load it (autograder/tests/conftest.py ignores corpus/). If it is loaded, it fails
loudly."""
raise SystemExit("attack: corpus conftest.py was imported")

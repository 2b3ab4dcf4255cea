"""The course's autograder: an isolated grader for the problem sets (``python -m autograder grade``), the checks
nbgrader's hidden tests call (``autograder.checks``), and the tools that build ``assignments/`` from
``solutions/`` (``python -m autograder generate``). See autograder/README.md."""

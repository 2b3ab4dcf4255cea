#!/usr/bin/env bash
# Mutation testing of one library module with mutmut (pip install -e .[mutation]), in a scratch copy of the
# working tree (the repository itself is never touched), on one core:
#
#   benchmarks/mutation.sh ssl_course/losses.py "tests/test_losses.py" ['MUTANT_GLOB ...']
#   benchmarks/mutation.sh autograder/compare.py "autograder/tests/test_checks_in_process.py ..."
#
# The optional third argument restricts the run to mutants whose names match (e.g. 'ssl_course.train.x_train__*'),
# for modules whose full run does not fit the time at hand; unrun mutants are "not checked" and not counted.
# Prints mutmut's per-mutant results and a summary line "MODULE killed/total = score"; the scratch copy stays in
# $MUTMUT_WORK (default /tmp/mutmut-<module>) so `cd $MUTMUT_WORK && mutmut show <mutant>` shows a survivor.
# Results and commands of the last run: benchmarks/RESULTS_mutation.md.
set -euo pipefail
module=$1
tests=$2
root=$(git rev-parse --show-toplevel)
name=$(basename "$module" .py)
work=${MUTMUT_WORK:-/tmp/mutmut-$name}
python=${PYTHON:-python}
mutmut=$(dirname "$(command -v "$python")")/mutmut
rm -rf "$work" && mkdir -p "$work"
(cd "$root" && git ls-files -co --exclude-standard -z ssl_course autograder tests pyproject.toml | xargs -0 tar -cf - ) \
  | tar -xf - -C "$work"
tests_toml=$(printf '"%s", ' $tests)
# a grader module (autograder/...) imports the library: both packages are copied into mutmut's mutants/ tree
top=${module%%/*}
sources='"ssl_course"'
[ "$top" != ssl_course ] && sources="\"$top\", $sources"
cat >> "$work/pyproject.toml" <<TOML

[tool.mutmut]
source_paths = [$sources]
only_mutate = ["$module"]
pytest_add_cli_args_test_selection = [${tests_toml%, }]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-m", "not browser and not notebooks"]
TOML
cd "$work"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
unset PYTHONPATH
start=$(date +%s)
"$mutmut" run --max-children 1 ${3:-} || true
"$mutmut" results --all true > results.txt 2>&1 || "$mutmut" results > results.txt 2>&1 || true
end=$(date +%s)
killed=$(grep -c ": killed" results.txt || true)
total=$(grep -cE ": (killed|survived|timeout|no tests|suspicious|segfault)" results.txt || true)
cat results.txt | grep -v ": killed" || true
echo "$module killed $killed of $total mutants ($(( end - start )) s)"

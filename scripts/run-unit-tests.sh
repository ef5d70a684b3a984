#!/usr/bin/env bash
# run-unit-tests.sh: runs each unit test binary given as an argument, adds up
# the "N passed, N failed" lines they print, and prints the total the same
# way. Exits non-zero if any test failed, any binary crashed, or none ran.
set -u
passed=0; failed=0; crashed=0
for bin in "$@"; do
  echo "== $bin"
  out=$("$bin"); rc=$?
  printf '%s\n' "$out" | grep -v '^[0-9]* passed, [0-9]* failed$'
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
  if [ -z "$line" ]; then
    echo "   $bin ended without a summary (exit $rc)"; crashed=$((crashed + 1)); continue
  fi
  p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
  passed=$((passed + p)); failed=$((failed + f))
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && crashed=$((crashed + 1))
done
echo "unit: $passed passed, $((failed + crashed)) failed"
[ "$failed" -eq 0 ] && [ "$crashed" -eq 0 ] && [ "$passed" -gt 0 ]

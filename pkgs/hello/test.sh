# test.sh HELLO: the test suite of hello, run in checkPhase.
set -e
hello=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$($hello)" = "Hello, world!" ] || fail "default greeting"
[ "$($hello -g 'Hi there')" = "Hi there" ] || fail "-g"
[ "$($hello --version)" = "hello 1.0" ] || fail "--version"
if $hello --bogus 2>/dev/null; then fail "--bogus accepted"; fi
echo "hello: all tests passed"

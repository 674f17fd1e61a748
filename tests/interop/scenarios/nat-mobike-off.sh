#!/usr/bin/env bash
# nat-mobike-off (issue 13, case 5 without MOBIKE): nat-mobike with `set nomobike` on our
# daemon; see nat-mobike.sh.
MOBIKE=off exec "$(dirname "$0")/nat-mobike.sh"

#!/bin/sh
echo "coverage is not available in the offline kata-cpp build" >&2
exit 1

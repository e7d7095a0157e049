#!/bin/sh
# Generate the build system. Dovecot's dovecot.m4 comes from dovecot-dev
# (/usr/share/aclocal), so it is not vendored here.
set -e
cd "$(dirname "$0")"
mkdir -p m4
autoreconf -fi

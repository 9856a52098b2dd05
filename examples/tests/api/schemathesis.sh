#!/usr/bin/env bash
# Validates the admin API's OpenAPI document against the running server with schemathesis:
# no 5xx on any input, every status code documented, JSON bodies matching their schemas,
# content types as documented. Bounded: SCHEMATHESIS_MAX_EXAMPLES cases per operation and
# SCHEMATHESIS_MAX_TIME seconds in all.
#
# The coverage phase is left out: under CPython 3.11.7 it intermittently dies inside
# hypothesis (SystemError "AST constructor recursion depth mismatch" while describing a lambda,
# a CPython bug), which schemathesis reports as an error of the run. The fuzzing phase still
# generates both valid and invalid (negative) data, and the stateful phase chains operations.
#
# The generator's filter_too_much health check is suppressed: free-text path parameters such
# as {domain} make hypothesis discard many candidates (slashes, empty strings) and the check
# then fails the run at random; it says nothing about the server.
#
# usage: schemathesis.sh BASE_URL TOKEN     (BASE_URL like http://127.0.0.1:8080)
set -euo pipefail
base="${1:?usage: schemathesis.sh BASE_URL TOKEN}"
token="${2:?usage: schemathesis.sh BASE_URL TOKEN}"
exec schemathesis run "$base/api/v1/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases "${SCHEMATHESIS_PHASES:-examples,fuzzing,stateful}" \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-20}" \
  --max-time "${SCHEMATHESIS_MAX_TIME:-90}" \
  --request-timeout 20 \
  --workers 4 \
  --generation-database none \
  --suppress-health-check filter_too_much \
  --no-color

import type { ErrorKind } from "../attest/errors.js";

/** Exit statuses of every migtd-repro command, as documented in --help. */
export const EXIT = {
  ok: 0,
  checkFailed: 1,
  invalidInput: 2,
  environment: 3,
  buildFailed: 4,
  internal: 70,
  interrupted: 130,
} as const;

export const EXIT_BY_KIND: Record<ErrorKind, number> = {
  "invalid-input": EXIT.invalidInput,
  "check-failed": EXIT.checkFailed,
  environment: EXIT.environment,
  "build-failed": EXIT.buildFailed,
  interrupted: EXIT.interrupted,
};

export const EXIT_STATUS_HELP = `Exit status:
  0    success (for verify: every check passed)
  1    a check failed: verification mismatch, build not reproducible,
       or no page order reproduces --expect-mrtd
  2    invalid input or usage: a bad option, file or image
  3    environment problem: no Docker engine, a missing tool, a service
       that cannot be reached
  4    the firmware build failed: non-zero exit, timeout, out of memory,
       missing or rejected output
  70   internal error (a bug in migtd-repro; please report it)
  130  interrupted by SIGINT or SIGTERM`;

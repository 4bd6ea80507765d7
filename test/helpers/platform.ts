// What differs between the Unix systems the suite runs on (CI: ubuntu-latest and macos-latest). Tests
// gate on these constants (describe.runIf / it.runIf) or compute the value that differs.
import * as fs from 'node:fs';

export const LINUX = process.platform === 'linux';
export const DARWIN = process.platform === 'darwin';

/**
 * The directory listing this process's open descriptors: /proc/self/fd on Linux; macOS has no /proc,
 * and its /dev/fd lists the descriptors of the process reading it. Reading either opens one descriptor
 * of its own, so counts taken the same way compare exactly.
 */
export const FD_DIR = LINUX ? '/proc/self/fd' : '/dev/fd';

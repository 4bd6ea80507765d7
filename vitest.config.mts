import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Build output (a wine prefix links the whole filesystem under test/native/build) is not tests.
    exclude: ['**/node_modules/**', 'test/native/build/**'],
    // Tests open real sockets and spawn real processes; forks keep each file in its own process so a
    // descriptor count in one file is not disturbed by another.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});

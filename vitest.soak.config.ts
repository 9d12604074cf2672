import { defineConfig } from 'vitest/config';

// `npm run test:soak`: the long-running soak (test/soak), kept out of `npm test`.
// SOAK_SECONDS sets its length (default 600); the test's own timeout follows it.
export default defineConfig({
  test: {
    include: ['test/soak/**/*.soak.ts'],
    hookTimeout: 60_000,
    pool: 'forks',
  },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["packages/*/test/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          // Real sandboxes on a 2-core machine: one file at a time keeps timings honest.
          fileParallelism: false,
          testTimeout: 120_000,
          // The first run builds the debian image (about a minute and a half).
          hookTimeout: 600_000,
          globalSetup: ["tests/helpers/global-setup.ts"],
        },
      },
    ],
  },
});

import { defineConfig } from "vite";

// Served by the daemon at /ui (packages/daemon/src/api/routes/ui.ts), from dist/ only.
export default defineConfig({
  base: "/ui/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Every asset a file of its own: the page's CSP allows no inline script.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  logLevel: "warn",
});

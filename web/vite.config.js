import { defineConfig } from "vite";

// React's automatic JSX runtime through Vite's built-in transform: no extra plugin needed.
export default defineConfig({
  oxc: { jsx: { runtime: "automatic" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    rollupOptions: {
      // Libraries ship "use client" directives for React Server Components; a client bundle drops them.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
  },
  server: {
    proxy: Object.fromEntries(["/api", "/realtime", "/web"].map((p) => [p, "http://127.0.0.1:8787"])),
  },
});

// Builds the dashboard into dist/; `make ui` copies it into src/vibepiper/server/ui.
// `npm run dev` proxies /api to a server on 127.0.0.1:4200.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 400 },
  server: { proxy: { "/api": "http://127.0.0.1:4200" } },
});

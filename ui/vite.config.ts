// Builds the dashboard into dist/; `make ui` copies it into src/vibepiper/server/ui.
// `npm run dev` proxies /api (websockets included) to a server on 127.0.0.1:4200.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

// Swagger UI for the server's /api/docs page, served from the package instead of a CDN.
const SWAGGER_UI_FILES = [
  "swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png",
  "LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt",
];

/** Copies Swagger UI (the swagger-ui-dist package) and our initializer into dist/swagger/. */
function swaggerUi(): Plugin {
  return {
    name: "vibepiper-swagger-ui",
    apply: "build",
    generateBundle() {
      const require = createRequire(import.meta.url);
      const dist = dirname(require.resolve("swagger-ui-dist/package.json"));
      const files: [string, string][] = SWAGGER_UI_FILES.map((name) => [name, join(dist, name)]);
      files.push(["init.js", join(import.meta.dirname, "swagger", "init.js")]);
      for (const [name, path] of files) {
        const content = readFileSync(path);
        // The source maps are not shipped, so no comment may point the browser at one.
        const source = /\.(css|js)$/.test(name)
          ? content.toString("utf8").replace(/\/[*/]# sourceMappingURL=[^*\n]*(\*\/)?\s*$/, "")
          : content;
        this.emitFile({ type: "asset", fileName: `swagger/${name}`, source });
      }
    },
  };
}

export default defineConfig({
  plugins: [react(), swaggerUi()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 400 },
  // ws: the live event stream (/api/events/out) is a websocket
  server: { proxy: { "/api": { target: "http://127.0.0.1:4200", ws: true } } },
});
